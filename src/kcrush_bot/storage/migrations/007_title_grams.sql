-- Short queries (one or two characters) look for titles that contain them anywhere ("xo" finds
-- "EXO"), newest first. The word index cannot: "xo" is inside a word. Without an index of its
-- own a needle in few titles read every title of the archive (70 ms at 100,000 posts), so each
-- title's two-character pieces are indexed here: "EXO live" gives "ex xo o  l li iv ve e", and
-- the tokenizer keeps "xo" as a word, folds case and drops what is not a letter or digit ("o ").
-- A needle of two characters is one such word; one of one character is a prefix of one (prefix
-- index 1). The pieces are a generated column because SQLite has no function that splits a
-- string; it covers a title's first 201 characters, and a longer title also yields "longtitle",
-- a word no two characters make, so that a search takes it for a candidate too. Candidates are
-- checked with LIKE, as before: the index only narrows which titles are read.
ALTER TABLE posts ADD COLUMN title_grams TEXT GENERATED ALWAYS AS (
        substr(title, 1, 2) || ' ' || substr(title, 2, 2) || ' ' || substr(title, 3, 2) || ' ' || substr(title, 4, 2) || ' ' || substr(title, 5, 2) || ' ' || substr(title, 6, 2) || ' ' ||
        substr(title, 7, 2) || ' ' || substr(title, 8, 2) || ' ' || substr(title, 9, 2) || ' ' || substr(title, 10, 2) || ' ' || substr(title, 11, 2) || ' ' || substr(title, 12, 2) || ' ' ||
        substr(title, 13, 2) || ' ' || substr(title, 14, 2) || ' ' || substr(title, 15, 2) || ' ' || substr(title, 16, 2) || ' ' || substr(title, 17, 2) || ' ' || substr(title, 18, 2) || ' ' ||
        substr(title, 19, 2) || ' ' || substr(title, 20, 2) || ' ' || substr(title, 21, 2) || ' ' || substr(title, 22, 2) || ' ' || substr(title, 23, 2) || ' ' || substr(title, 24, 2) || ' ' ||
        substr(title, 25, 2) || ' ' || substr(title, 26, 2) || ' ' || substr(title, 27, 2) || ' ' || substr(title, 28, 2) || ' ' || substr(title, 29, 2) || ' ' || substr(title, 30, 2) || ' ' ||
        substr(title, 31, 2) || ' ' || substr(title, 32, 2) || ' ' || substr(title, 33, 2) || ' ' || substr(title, 34, 2) || ' ' || substr(title, 35, 2) || ' ' || substr(title, 36, 2) || ' ' ||
        substr(title, 37, 2) || ' ' || substr(title, 38, 2) || ' ' || substr(title, 39, 2) || ' ' || substr(title, 40, 2) || ' ' || substr(title, 41, 2) || ' ' || substr(title, 42, 2) || ' ' ||
        substr(title, 43, 2) || ' ' || substr(title, 44, 2) || ' ' || substr(title, 45, 2) || ' ' || substr(title, 46, 2) || ' ' || substr(title, 47, 2) || ' ' || substr(title, 48, 2) || ' ' ||
        substr(title, 49, 2) || ' ' || substr(title, 50, 2) || ' ' || substr(title, 51, 2) || ' ' || substr(title, 52, 2) || ' ' || substr(title, 53, 2) || ' ' || substr(title, 54, 2) || ' ' ||
        substr(title, 55, 2) || ' ' || substr(title, 56, 2) || ' ' || substr(title, 57, 2) || ' ' || substr(title, 58, 2) || ' ' || substr(title, 59, 2) || ' ' || substr(title, 60, 2) || ' ' ||
        substr(title, 61, 2) || ' ' || substr(title, 62, 2) || ' ' || substr(title, 63, 2) || ' ' || substr(title, 64, 2) || ' ' || substr(title, 65, 2) || ' ' || substr(title, 66, 2) || ' ' ||
        substr(title, 67, 2) || ' ' || substr(title, 68, 2) || ' ' || substr(title, 69, 2) || ' ' || substr(title, 70, 2) || ' ' || substr(title, 71, 2) || ' ' || substr(title, 72, 2) || ' ' ||
        substr(title, 73, 2) || ' ' || substr(title, 74, 2) || ' ' || substr(title, 75, 2) || ' ' || substr(title, 76, 2) || ' ' || substr(title, 77, 2) || ' ' || substr(title, 78, 2) || ' ' ||
        substr(title, 79, 2) || ' ' || substr(title, 80, 2) || ' ' || substr(title, 81, 2) || ' ' || substr(title, 82, 2) || ' ' || substr(title, 83, 2) || ' ' || substr(title, 84, 2) || ' ' ||
        substr(title, 85, 2) || ' ' || substr(title, 86, 2) || ' ' || substr(title, 87, 2) || ' ' || substr(title, 88, 2) || ' ' || substr(title, 89, 2) || ' ' || substr(title, 90, 2) || ' ' ||
        substr(title, 91, 2) || ' ' || substr(title, 92, 2) || ' ' || substr(title, 93, 2) || ' ' || substr(title, 94, 2) || ' ' || substr(title, 95, 2) || ' ' || substr(title, 96, 2) || ' ' ||
        substr(title, 97, 2) || ' ' || substr(title, 98, 2) || ' ' || substr(title, 99, 2) || ' ' || substr(title, 100, 2) || ' ' || substr(title, 101, 2) || ' ' || substr(title, 102, 2) || ' ' ||
        substr(title, 103, 2) || ' ' || substr(title, 104, 2) || ' ' || substr(title, 105, 2) || ' ' || substr(title, 106, 2) || ' ' || substr(title, 107, 2) || ' ' || substr(title, 108, 2) || ' ' ||
        substr(title, 109, 2) || ' ' || substr(title, 110, 2) || ' ' || substr(title, 111, 2) || ' ' || substr(title, 112, 2) || ' ' || substr(title, 113, 2) || ' ' || substr(title, 114, 2) || ' ' ||
        substr(title, 115, 2) || ' ' || substr(title, 116, 2) || ' ' || substr(title, 117, 2) || ' ' || substr(title, 118, 2) || ' ' || substr(title, 119, 2) || ' ' || substr(title, 120, 2) || ' ' ||
        substr(title, 121, 2) || ' ' || substr(title, 122, 2) || ' ' || substr(title, 123, 2) || ' ' || substr(title, 124, 2) || ' ' || substr(title, 125, 2) || ' ' || substr(title, 126, 2) || ' ' ||
        substr(title, 127, 2) || ' ' || substr(title, 128, 2) || ' ' || substr(title, 129, 2) || ' ' || substr(title, 130, 2) || ' ' || substr(title, 131, 2) || ' ' || substr(title, 132, 2) || ' ' ||
        substr(title, 133, 2) || ' ' || substr(title, 134, 2) || ' ' || substr(title, 135, 2) || ' ' || substr(title, 136, 2) || ' ' || substr(title, 137, 2) || ' ' || substr(title, 138, 2) || ' ' ||
        substr(title, 139, 2) || ' ' || substr(title, 140, 2) || ' ' || substr(title, 141, 2) || ' ' || substr(title, 142, 2) || ' ' || substr(title, 143, 2) || ' ' || substr(title, 144, 2) || ' ' ||
        substr(title, 145, 2) || ' ' || substr(title, 146, 2) || ' ' || substr(title, 147, 2) || ' ' || substr(title, 148, 2) || ' ' || substr(title, 149, 2) || ' ' || substr(title, 150, 2) || ' ' ||
        substr(title, 151, 2) || ' ' || substr(title, 152, 2) || ' ' || substr(title, 153, 2) || ' ' || substr(title, 154, 2) || ' ' || substr(title, 155, 2) || ' ' || substr(title, 156, 2) || ' ' ||
        substr(title, 157, 2) || ' ' || substr(title, 158, 2) || ' ' || substr(title, 159, 2) || ' ' || substr(title, 160, 2) || ' ' || substr(title, 161, 2) || ' ' || substr(title, 162, 2) || ' ' ||
        substr(title, 163, 2) || ' ' || substr(title, 164, 2) || ' ' || substr(title, 165, 2) || ' ' || substr(title, 166, 2) || ' ' || substr(title, 167, 2) || ' ' || substr(title, 168, 2) || ' ' ||
        substr(title, 169, 2) || ' ' || substr(title, 170, 2) || ' ' || substr(title, 171, 2) || ' ' || substr(title, 172, 2) || ' ' || substr(title, 173, 2) || ' ' || substr(title, 174, 2) || ' ' ||
        substr(title, 175, 2) || ' ' || substr(title, 176, 2) || ' ' || substr(title, 177, 2) || ' ' || substr(title, 178, 2) || ' ' || substr(title, 179, 2) || ' ' || substr(title, 180, 2) || ' ' ||
        substr(title, 181, 2) || ' ' || substr(title, 182, 2) || ' ' || substr(title, 183, 2) || ' ' || substr(title, 184, 2) || ' ' || substr(title, 185, 2) || ' ' || substr(title, 186, 2) || ' ' ||
        substr(title, 187, 2) || ' ' || substr(title, 188, 2) || ' ' || substr(title, 189, 2) || ' ' || substr(title, 190, 2) || ' ' || substr(title, 191, 2) || ' ' || substr(title, 192, 2) || ' ' ||
        substr(title, 193, 2) || ' ' || substr(title, 194, 2) || ' ' || substr(title, 195, 2) || ' ' || substr(title, 196, 2) || ' ' || substr(title, 197, 2) || ' ' || substr(title, 198, 2) || ' ' ||
        substr(title, 199, 2) || ' ' || substr(title, 200, 2)
        || CASE WHEN length(title) > 201 THEN ' longtitle' ELSE '' END
) VIRTUAL;

CREATE VIRTUAL TABLE posts_title_grams USING fts5(
    title_grams,
    content='posts', content_rowid='id',
    tokenize="unicode61 remove_diacritics 0",
    detail='none', columnsize=0, prefix='1'
);
-- Every post, withdrawn or not: the search joins posts and leaves withdrawn ones out there.
CREATE TRIGGER posts_title_grams_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_title_grams (rowid, title_grams) VALUES (new.id, new.title_grams);
END;
CREATE TRIGGER posts_title_grams_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_title_grams (posts_title_grams, rowid, title_grams)
    VALUES ('delete', old.id, old.title_grams);
END;
CREATE TRIGGER posts_title_grams_update AFTER UPDATE OF title ON posts BEGIN
    INSERT INTO posts_title_grams (posts_title_grams, rowid, title_grams)
    VALUES ('delete', old.id, old.title_grams);
    INSERT INTO posts_title_grams (rowid, title_grams) VALUES (new.id, new.title_grams);
END;
INSERT INTO posts_title_grams (posts_title_grams) VALUES ('rebuild');
