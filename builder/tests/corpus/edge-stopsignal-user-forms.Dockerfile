FROM a
STOPSIGNAL  SIGKILL  
USER   root:root   extra
WORKDIR /path with spaces
MAINTAINER  a  b  c 
