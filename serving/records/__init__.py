"""Decision records: every scored applicant kept in a database, and outcomes joined to them.

One row per applicant decision: the request id and the applicant's position in the
request, the UTC time, the model version and its threshold, the nine inputs, P(good), the
decision, its principal reasons (always for a decline; with the reason table's version, so
that the inputs and the model version compute them again exactly), the caller (a hash of
its API key, never the key) and the client's own reference (X-Application-ID). Outcomes
(repaid or not) are added later.

SQLite in WAL mode by default, or any database SQLAlchemy reaches by URL (PostgreSQL in
production, through psycopg); its schema is made by the migrations in serving/records/migrations/.
Records of concurrent requests are committed in one transaction
(`serving.coalescer.Coalescer`), and a request is answered only once its records are
committed. SQLite syncs its WAL at each commit (synchronous=FULL) and PostgreSQL must keep
synchronous_commit on: an acknowledged decision survives a killed process and a power cut.

- `database`: the table, the engine (SQLite in WAL mode or a server by URL) and the
  migrations that make its schema (`migrations/`);
- `writer`: the serving path's rows and their group commit;
- `queries`: reading, outcomes, purging and deleting (`Records`);
- `models`: what the records routes take and answer;
- `outcomes`: how the decisions with an outcome turned out (Prometheus gauges);
- `admin`: the auditor's and the operator's commands.
"""
