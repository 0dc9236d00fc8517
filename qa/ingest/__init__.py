"""Reading documents: files in, repaired text, sentences and passages with their exact place in the source."""
