from training_export.export import main

main()
