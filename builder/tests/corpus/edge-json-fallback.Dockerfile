FROM a
CMD ['a', 'b']
RUN [a, b]
ENTRYPOINT ["a",]
CMD ["unterminated
RUN {"a": 1}
