namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// A sub-word tokenizer loaded from a Hugging Face checkpoint folder: splits text into vocabulary ids
/// and builds BERT-style model inputs (<c>[CLS] a [SEP]</c> or <c>[CLS] a [SEP] b [SEP]</c>).
/// </summary>
public interface ITokenizer
{
    /// <summary>Number of entries in the tokenizer's vocabulary (ids are <c>0 .. VocabularySize - 1</c>).</summary>
    int VocabularySize { get; }

    /// <summary>Ids of the special tokens used to build model inputs.</summary>
    SpecialTokenIds SpecialTokens { get; }

    /// <summary>Splits <paramref name="text"/> into vocabulary tokens (no <c>[CLS]</c>/<c>[SEP]</c> added).</summary>
    /// <param name="text">Raw text.</param>
    /// <returns>The token strings; unknown text is returned as the unknown token.</returns>
    IReadOnlyList<string> Tokenize(string text);

    /// <summary>Splits <paramref name="text"/> into vocabulary ids (no <c>[CLS]</c>/<c>[SEP]</c> added).</summary>
    /// <param name="text">Raw text.</param>
    /// <returns>The token ids.</returns>
    IReadOnlyList<int> TokenizeToIds(string text);

    /// <summary>Returns the vocabulary entry for <paramref name="id"/>.</summary>
    /// <param name="id">A vocabulary id.</param>
    /// <returns>The token string.</returns>
    string IdToToken(int id);

    /// <summary>
    /// Encodes one example as <c>[CLS] first [SEP]</c> or <c>[CLS] first [SEP] second [SEP]</c>, truncated
    /// (longest first for pairs) and padded to exactly <paramref name="maxLength"/> positions.
    /// </summary>
    /// <param name="first">First segment.</param>
    /// <param name="second">Second segment, or <see langword="null"/> for single-sentence tasks.</param>
    /// <param name="maxLength">Sequence length including special tokens.</param>
    /// <returns>Input ids, attention mask and token type ids, each of length <paramref name="maxLength"/>.</returns>
    EncodedInput Encode(string first, string? second, int maxLength);
}
