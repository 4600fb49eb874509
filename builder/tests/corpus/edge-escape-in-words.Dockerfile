FROM a
ENV a=x\"y b="q\"r" c='s\t'
LABEL a=\$x b="\$y"
