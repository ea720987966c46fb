# One image for every BizOSaaS process: compose.yml runs it as `bizosaas migrate`, `bizosaas gateway` and
# `bizosaas worker GROUP`. Only the product's packages are installed (no tests, benchmarks or dev servers).
#
#   docker build -t bizosaas .                      # with the local embedding model (extra "rag")
#   docker build --build-arg EXTRAS= -t bizosaas .  # without it (embeddings through OPENAI_API_KEY only)
#
# The local model is an ONNX file inside the package (rag/onnx_model/), run by onnxruntime's CPU wheel: no torch.

FROM python:3.11-slim AS build
ARG EXTRAS=rag,agents
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/bizosaas
WORKDIR /src
COPY . .
RUN /opt/bizosaas/bin/pip install -c constraints.txt ".${EXTRAS:+[$EXTRAS]}"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --create-home --shell /usr/sbin/nologin bizosaas
COPY --from=build /opt/bizosaas /opt/bizosaas
ENV PATH=/opt/bizosaas/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER bizosaas
WORKDIR /home/bizosaas
EXPOSE 8001 9101
# SIGTERM lets a worker drain and the gateway finish its requests (compose gives each a grace period)
STOPSIGNAL SIGTERM
CMD ["bizosaas", "gateway", "--host", "0.0.0.0", "--port", "8001"]
