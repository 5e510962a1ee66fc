using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// BERT's WordPiece tokenizer: <see cref="BasicTokenizer"/> splitting followed by greedy longest-match-first
/// sub-word splitting against <c>vocab.txt</c>, with <c>##</c> marking word continuations. A word longer than
/// <see cref="WordPieceOptions.MaxInputCharsPerWord"/> characters, or one with any part not in the
/// vocabulary, becomes a single unknown token.
/// </summary>
public sealed class WordPieceTokenizer : ITokenizer
{
    /// <summary>The vocabulary file name inside a checkpoint folder.</summary>
    public const string VocabularyFileName = "vocab.txt";

    /// <summary>The prefix marking a piece that continues a word.</summary>
    public const string ContinuationPrefix = "##";

    private readonly string[] _vocabulary;
    private readonly Dictionary<string, int> _ids;
    private readonly Dictionary<string, int> _continuations;

    // The longest entry (in UTF-16 chars, "##" stripped): longer candidate pieces are not looked up. On net8.0 a
    // lookup needs a string (Dictionary's span lookup is .NET 9), so this bounds the strings made per word.
    private readonly int _longestPiece;
    private readonly BasicTokenizer _basic;
    private readonly string[] _specialStrings;
    private readonly string _source;

    /// <summary>Creates a tokenizer over an in-memory vocabulary (line <c>i</c> of <c>vocab.txt</c> has id <c>i</c>).</summary>
    /// <param name="vocabulary">The vocabulary entries in id order.</param>
    /// <param name="options">Options; BERT-uncased defaults when <see langword="null"/>.</param>
    /// <param name="source">Where the vocabulary came from, for error messages.</param>
    public WordPieceTokenizer(IReadOnlyList<string> vocabulary, WordPieceOptions? options = null, string source = "vocabulary")
    {
        ArgumentNullException.ThrowIfNull(vocabulary);
        Options = options ?? new WordPieceOptions();
        _source = source;
        if (vocabulary.Count == 0)
        {
            throw new InvalidDataException($"{source} is empty; a WordPiece vocabulary needs one token per line.");
        }

        if (Options.MaxInputCharsPerWord < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(options), Options.MaxInputCharsPerWord, "MaxInputCharsPerWord must be at least 1 (BERT uses 100).");
        }

        _vocabulary = [.. vocabulary];
        _ids = new Dictionary<string, int>(_vocabulary.Length, StringComparer.Ordinal);
        var continuations = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < _vocabulary.Length; i++)
        {
            string token = _vocabulary[i];
            _ids[token] = i; // Hugging Face keeps the last line of a duplicated token.
            if (token.Length > ContinuationPrefix.Length && token.StartsWith(ContinuationPrefix, StringComparison.Ordinal))
            {
                continuations[token[ContinuationPrefix.Length..]] = i;
            }
        }

        _continuations = continuations;
        _longestPiece = _vocabulary.Length == 0 ? 0 : _vocabulary.Max(t => t.Length);

        SpecialTokenNames names = Options.SpecialTokens;
        SpecialTokens = new SpecialTokenIds(
            RequireToken(names.Cls, "cls_token"),
            RequireToken(names.Sep, "sep_token"),
            RequireToken(names.Pad, "pad_token"),
            RequireToken(names.Unk, "unk_token"));
        _specialStrings = [.. names.All.Where(_ids.ContainsKey).Distinct(StringComparer.Ordinal)];
        _basic = new BasicTokenizer(Options.LowerCase, Options.StripAccents, Options.TokenizeChineseChars);
    }

    /// <summary>The options in effect.</summary>
    public WordPieceOptions Options { get; }

    /// <inheritdoc />
    public int VocabularySize => _vocabulary.Length;

    /// <inheritdoc />
    public SpecialTokenIds SpecialTokens { get; }

    /// <summary>Loads <c>vocab.txt</c> and, when present, <c>tokenizer_config.json</c> from a checkpoint folder.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The tokenizer.</returns>
    public static WordPieceTokenizer FromDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return FromFiles(
            Path.Combine(directory, VocabularyFileName),
            Path.Combine(directory, TokenizerConfig.FileName));
    }

    /// <summary>Loads a vocabulary file and an optional <c>tokenizer_config.json</c>.</summary>
    /// <param name="vocabularyPath">Path of <c>vocab.txt</c> (one token per line, UTF-8).</param>
    /// <param name="tokenizerConfigPath">Path of <c>tokenizer_config.json</c>; ignored when <see langword="null"/> or missing.</param>
    /// <returns>The tokenizer.</returns>
    public static WordPieceTokenizer FromFiles(string vocabularyPath, string? tokenizerConfigPath = null)
    {
        ArgumentNullException.ThrowIfNull(vocabularyPath);
        if (!File.Exists(vocabularyPath))
        {
            throw new FileNotFoundException(
                $"WordPiece vocabulary {vocabularyPath} does not exist; point at a BERT checkpoint folder that contains {VocabularyFileName}.",
                vocabularyPath);
        }

        TokenizerConfig config = tokenizerConfigPath is null ? TokenizerConfig.Empty : TokenizerConfig.LoadOrDefault(tokenizerConfigPath);
        string[] lines = File.ReadAllLines(vocabularyPath, Encoding.UTF8);
        return new WordPieceTokenizer(lines, WordPieceOptions.FromConfig(config), vocabularyPath);
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Tokenize(string text) => [.. TokenizeToIds(text).Select(IdToToken)];

    /// <inheritdoc />
    public IReadOnlyList<int> TokenizeToIds(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        foreach (var (segment, isSpecial) in SpecialTokenSplitter.Split(text, _specialStrings))
        {
            if (isSpecial)
            {
                ids.Add(_ids[segment]);
                continue;
            }

            foreach (string word in _basic.Tokenize(segment))
            {
                SplitWord(word, ids);
            }
        }

        return ids;
    }

    /// <inheritdoc />
    public string IdToToken(int id)
    {
        if ((uint)id >= (uint)_vocabulary.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"id must be in [0, {_vocabulary.Length}) for {_source}.");
        }

        return _vocabulary[id];
    }

    /// <inheritdoc />
    public EncodedInput Encode(string first, string? second, int maxLength) =>
        PairEncoder.Encode(TokenizeToIds(first), second is null ? null : TokenizeToIds(second), maxLength, SpecialTokens);

    /// <summary>Greedy longest-match-first WordPiece split of one basic token, appending ids to <paramref name="ids"/>.</summary>
    /// <param name="word">A basic token (no whitespace).</param>
    /// <param name="ids">Receives the piece ids, or the unknown id for the whole word.</param>
    internal void SplitWord(string word, List<int> ids)
    {
        // Characters are code points, as in Python; only words with surrogate pairs need a boundary table.
        int[]? boundaries = word.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0 ? CodePointBoundaries(word) : null;
        int charCount = boundaries is null ? word.Length : boundaries.Length - 1;
        if (charCount > Options.MaxInputCharsPerWord)
        {
            ids.Add(SpecialTokens.Unk);
            return;
        }

        int mark = ids.Count;
        int start = 0;
        while (start < charCount)
        {
            // A piece after the first is looked up among the "##" entries, without its prefix.
            var table = start == 0 ? _ids : _continuations;
            int end = Math.Min(charCount, start + _longestPiece);
            int found = -1;
            while (start < end)
            {
                int from = boundaries is null ? start : boundaries[start];
                int to = boundaries is null ? end : boundaries[end];
                if (table.TryGetValue(word.Substring(from, to - from), out int id))
                {
                    found = id;
                    break;
                }

                end--;
            }

            if (found < 0)
            {
                ids.RemoveRange(mark, ids.Count - mark);
                ids.Add(SpecialTokens.Unk);
                return;
            }

            ids.Add(found);
            start = end;
        }
    }

    private static int[] CodePointBoundaries(string word)
    {
        var boundaries = new List<int>(word.Length + 1);
        for (int i = 0; i < word.Length; i += char.IsSurrogatePair(word, i) ? 2 : 1)
        {
            boundaries.Add(i);
        }

        boundaries.Add(word.Length);
        return [.. boundaries];
    }

    private int RequireToken(string token, string configKey)
    {
        if (_ids.TryGetValue(token, out int id))
        {
            return id;
        }

        throw new InvalidDataException(
            $"{_source} has no \"{token}\" entry, which this tokenizer needs as its {configKey}; add the token to the "
            + $"vocabulary or name the right one with \"{configKey}\" in {TokenizerConfig.FileName}.");
    }
}
