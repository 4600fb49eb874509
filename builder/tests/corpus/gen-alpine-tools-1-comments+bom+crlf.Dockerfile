FROM alpine:3.19
RUN apk add --no-cache \
#
      bash \
# a comment inside
      curl \
      jq \
#
      git \
#
      openssh-client
ARG USER=tools
ARG UID=1000
RUN adduser -D -u ${UID} ${USER}
USER ${USER}
WORKDIR /home/${USER}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN curl -fsSL https://example.com/install.sh | bash
CMD ["bash"]
