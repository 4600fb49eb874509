FROM a
RUNecho vt
ENV ab
