# The image deploy/ refers to: the project with the `deploy` extra on python:3.11-slim, run as a non-root user.
# The ingestion's compiled modules are built in a first stage (gcc and Cython), so the image carries no compiler.
#   docker build -t registry.example.com/eval-pipelines:0.1.0 .
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY eval_pipelines ./eval_pipelines
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[deploy]'

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 eval && mkdir /eval-home && chown eval /eval-home
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'eval_pipelines[deploy]' && rm -rf /wheels
USER eval
WORKDIR /home/eval
ENV EVAL_PIPELINES_HOME=/eval-home \
    DAGSTER_DISABLE_TELEMETRY=1 GX_ANALYTICS_ENABLED=False DO_NOT_TRACK=1 PYTHONUNBUFFERED=1
# 3030: the code location's gRPC server; 4317/4318: the OTLP receiver (gRPC / HTTP).
EXPOSE 3030 4317 4318
CMD ["dagster", "api", "grpc", "--module-name", "eval_pipelines.definitions", "--host", "0.0.0.0", "--port", "3030"]
