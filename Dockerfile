# v2m image. One Dockerfile, two variants:
#   docker build -t v2m .                         # CPU (torch CPU, faiss-cpu, onnxruntime)
#   docker build -t v2m:gpu --build-arg VARIANT=gpu .   # CUDA torch, faiss-gpu, onnxruntime-gpu
ARG VARIANT=cpu
FROM python:3.11-slim-bookworm AS base
ARG VARIANT
ENV PYTHONUNBUFFERED=1 \
    V2M_VENV=/opt/venv \
    V2M_SKIP_APT=1 \
    V2M_DATA_DIR=/data \
    NUMBA_CACHE_DIR=/srv/v2m/.numba-cache \
    PATH=/opt/venv/bin:$PATH
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /srv/v2m
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY requirements/ requirements/
COPY scripts/ scripts/
COPY cli/ cli/
COPY app/ app/
COPY worker/ worker/
COPY ml/ ml/
COPY migrations/ migrations/
COPY alembic.ini ./
RUN if [ "$VARIANT" = gpu ]; then export V2M_EXTRAS=gpu; else export V2M_EXTRAS=; fi \
 && if [ "$VARIANT" != gpu ]; then export PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu; fi \
 && scripts/install.sh
# Compile the ranking kernels now, not on the first query.
RUN python -c "import numpy as np; from ml.ranking import warm_up; warm_up((np.float32, np.float16))"
RUN useradd --system --uid 10001 --home /srv/v2m v2m && mkdir -p /data \
 && chown -R v2m /data /srv/v2m/.numba-cache
USER v2m
VOLUME /data
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["v2m", "serve", "--host", "0.0.0.0", "--port", "8000"]
