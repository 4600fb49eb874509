FROM a
RUN ["cat", "<<EOF"]
CMD ["x"]
