namespace VectorFit.Transformers.Tokenization;

/// <summary>Chooses and loads the tokenizer a Hugging Face checkpoint folder ships.</summary>
public static class TokenizerFactory
{
    /// <summary>
    /// Loads the tokenizer of a checkpoint folder: <c>vocab.txt</c> → <see cref="WordPieceTokenizer"/> (BERT),
    /// <c>spm.model</c> → <see cref="SentencePieceTokenizer"/> (DeBERTa-v3). When both files exist,
    /// <c>tokenizer_class</c> in <c>tokenizer_config.json</c> decides (a DeBERTa class picks SentencePiece),
    /// otherwise WordPiece.
    /// </summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The tokenizer.</returns>
    public static ITokenizer FromPretrained(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException(
                $"Checkpoint folder {directory} does not exist; pass the folder holding config.json, the weights and vocab.txt or spm.model.");
        }

        bool hasVocab = File.Exists(Path.Combine(directory, WordPieceTokenizer.VocabularyFileName));
        bool hasSpm = File.Exists(Path.Combine(directory, SentencePieceTokenizer.ModelFileName));
        if (hasVocab && hasSpm)
        {
            TokenizerConfig config = TokenizerConfig.LoadOrDefault(Path.Combine(directory, TokenizerConfig.FileName));
            bool deberta = config.TokenizerClass?.Contains("Deberta", StringComparison.OrdinalIgnoreCase) == true;
            return deberta ? SentencePieceTokenizer.FromDirectory(directory) : WordPieceTokenizer.FromDirectory(directory);
        }

        if (hasVocab)
        {
            return WordPieceTokenizer.FromDirectory(directory);
        }

        if (hasSpm)
        {
            return SentencePieceTokenizer.FromDirectory(directory);
        }

        string found = string.Join(", ", Directory.EnumerateFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        throw new FileNotFoundException(
            $"Checkpoint folder {directory} has neither {WordPieceTokenizer.VocabularyFileName} (BERT WordPiece) nor "
            + $"{SentencePieceTokenizer.ModelFileName} (DeBERTa-v3 SentencePiece); it holds: {(found.Length == 0 ? "no files" : found)}. "
            + "Download the tokenizer files of the checkpoint into the same folder.");
    }
}
