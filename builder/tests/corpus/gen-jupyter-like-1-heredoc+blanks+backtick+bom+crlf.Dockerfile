# escape=`
FROM jupyter/base-notebook:latest
USER root
RUN apt-get update --yes && `

    apt-get install --yes --no-install-recommends `

    fonts-dejavu `

    gfortran `
    gcc && `
    apt-get clean && rm -rf /var/lib/apt/lists/*
USER ${NB_UID}
RUN mamba install --yes `
    'r-base' `
	
    'r-ggplot2' `

    'r-irkernel' && `

    mamba clean --all -f -y && `

    fix-permissions "${CONDA_DIR}" && `

    fix-permissions "/home/${NB_USER}"
