


FROM a



RUN b


