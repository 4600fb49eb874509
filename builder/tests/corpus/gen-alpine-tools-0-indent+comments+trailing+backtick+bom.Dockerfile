# escape=`
FROM alpine:3.19
 RUN apk add --no-cache `
# a comment inside 
      bash ` 
  # indented comment 
      curl `	
# a comment inside 	
      jq `  
# a comment inside 	
      git `	
      openssh-client 	
    ARG USER=tools  
 ARG UID=1000	
    RUN adduser -D -u ${UID} ${USER} 	
	USER ${USER}	
WORKDIR /home/${USER}	
	SHELL ["/bin/bash", "-o", "pipefail", "-c"]	
RUN curl -fsSL https://example.com/install.sh | bash 	
CMD ["bash"]  
 