FROM a
RU\
N echo split
