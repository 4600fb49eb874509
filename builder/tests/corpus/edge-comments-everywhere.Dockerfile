# top
#
  # indented
FROM a # not a comment
# between
RUN b
#end