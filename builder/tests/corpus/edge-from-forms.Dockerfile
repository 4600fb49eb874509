FROM a
FROM a AS b
FROM --platform=linux/arm64 a as c
FROM   a   AS   d  
FROM a b c d
