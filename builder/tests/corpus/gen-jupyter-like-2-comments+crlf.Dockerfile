FROM jupyter/base-notebook:latest
USER root
RUN apt-get update --yes && \
# a comment inside
    apt-get install --yes --no-install-recommends \
# a comment inside
    fonts-dejavu \
# a comment inside
    gfortran \
# a comment inside
    gcc && \
# a comment inside
    apt-get clean && rm -rf /var/lib/apt/lists/*
USER ${NB_UID}
RUN mamba install --yes \
    'r-base' \
# a comment inside
    'r-ggplot2' \
#
    'r-irkernel' && \
#
    mamba clean --all -f -y && \
# a comment inside
    fix-permissions "${CONDA_DIR}" && \
#
    fix-permissions "/home/${NB_USER}"
