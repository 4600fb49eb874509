FROM a
ENV key		value	here
