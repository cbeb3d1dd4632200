"""Media analysis: decoding, music structure, beats and shots."""
