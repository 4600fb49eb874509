FROM a
ENV a="unterminated
LABEL b='also
