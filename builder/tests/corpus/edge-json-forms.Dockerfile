FROM a
CMD ["a", "b c"]
ENTRYPOINT []
RUN [ "sh" , "-c" , "x" ]
SHELL ["/bin/bash","-c"]
