"""The public service's HTTP layer around BentoML.

- `routes`: every path, once;
- `stack`: the ordered middlewares every request passes, and why in that order;
- `request_context`: the request's id, its access-log line, one spelling of its path;
- `request_checks`: the checks that refuse a request (headers, key, body, concurrency);
- `answers`: what rewrites answers (gzip; BentoML's and Starlette's errors reworded);
- `errors`: the one error shape, every error's wording, and how each is sent;
- `openapi`, `docs`: the OpenAPI document and the offline /docs and /redoc pages;
- `loan_form`: the loan officer's form at /ui.
"""
