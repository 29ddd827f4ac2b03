# tuner worker and dashboard image: CPU only (GPU machines: see docs/scale-out.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NO_ALBUMENTATIONS_UPDATE=1

WORKDIR /app

# torch first, from the PyTorch CPU index: the default wheel brings gigabytes of CUDA
# libraries a CPU worker never loads. Same pair as scripts/setup.sh (they import together);
# pip then keeps them, as "2.14.1+cpu" satisfies pyproject's "<=2.14.1".
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
        "torch==2.14.1" "torchvision==0.29.1"

# The package (a layer of its own: editing a study file does not reinstall everything).
COPY pyproject.toml README.md ./
COPY tuner ./tuner
RUN pip install . && tuner --help >/dev/null

COPY studies ./studies

# Storage and artifacts come from the environment (docker-compose.yml sets both).
ENV TUNER_ARTIFACTS=/artifacts
ENTRYPOINT ["tuner"]
CMD ["--help"]
