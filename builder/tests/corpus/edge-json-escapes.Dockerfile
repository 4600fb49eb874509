FROM a
CMD ["a\"b", "c\\d", "\u00e9", "\ud83d\ude00", "\t"]
