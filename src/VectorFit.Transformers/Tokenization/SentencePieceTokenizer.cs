namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// A SentencePiece unigram tokenizer as DeBERTa-v3 uses it: text is normalized (<see cref="SentencePieceNormalizer"/>)
/// and segmented by <see cref="UnigramSegmenter"/>; special tokens (<c>[CLS]</c>, <c>[SEP]</c>, <c>[PAD]</c>,
/// <c>[UNK]</c>) are looked up among the model's pieces by their text.
/// </summary>
public sealed class SentencePieceTokenizer : ITokenizer
{
    /// <summary>The model file name inside a DeBERTa-v3 checkpoint folder.</summary>
    public const string ModelFileName = "spm.model";

    private readonly SentencePieceNormalizer _normalizer;
    private readonly UnigramSegmenter _segmenter;
    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly string[] _specialStrings;

    /// <summary>Creates a tokenizer over a parsed model.</summary>
    /// <param name="model">The SentencePiece model; must be a unigram model.</param>
    /// <param name="options">Options; DeBERTa-v3 defaults when <see langword="null"/>.</param>
    public SentencePieceTokenizer(SentencePieceModel model, SentencePieceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        Model = model;
        Options = options ?? new SentencePieceOptions();
        if (model.ModelType != SentencePieceModel.UnigramModelType)
        {
            throw new NotSupportedException(
                $"{model.Source} is a SentencePiece model of type {model.ModelType} (2 = BPE, 3 = word, 4 = char); "
                + "only unigram models (type 1, as DeBERTa-v3 uses) are supported.");
        }

        for (int id = 0; id < model.Pieces.Count; id++)
        {
            _ids.TryAdd(model.Pieces[id].Piece, id);
        }

        SpecialTokenNames names = Options.SpecialTokens;
        int unk = _ids.TryGetValue(names.Unk, out int unkId) ? unkId : FindUnknownPiece();
        SpecialTokens = new SpecialTokenIds(
            RequirePiece(names.Cls, "cls_token"),
            RequirePiece(names.Sep, "sep_token"),
            RequirePiece(names.Pad, "pad_token"),
            unk);
        _specialStrings = [.. names.All.Where(_ids.ContainsKey).Distinct(StringComparer.Ordinal)];
        _normalizer = new SentencePieceNormalizer(
            model.Normalizer,
            model.TreatWhitespaceAsSuffix,
            model.Pieces.Where(p => p.Type == SentencePieceType.UserDefined).Select(p => p.Piece));
        _segmenter = new UnigramSegmenter(model.Pieces, unk, model.ByteFallback);
    }

    /// <summary>The parsed model.</summary>
    public SentencePieceModel Model { get; }

    /// <summary>The options in effect.</summary>
    public SentencePieceOptions Options { get; }

    /// <inheritdoc />
    public int VocabularySize => Model.Pieces.Count;

    /// <inheritdoc />
    public SpecialTokenIds SpecialTokens { get; }

    /// <summary>Loads <c>spm.model</c> and, when present, <c>tokenizer_config.json</c> from a checkpoint folder.</summary>
    /// <param name="directory">The checkpoint folder.</param>
    /// <returns>The tokenizer.</returns>
    public static SentencePieceTokenizer FromDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        return FromFiles(Path.Combine(directory, ModelFileName), Path.Combine(directory, TokenizerConfig.FileName));
    }

    /// <summary>Loads a model file and an optional <c>tokenizer_config.json</c>.</summary>
    /// <param name="modelPath">Path of <c>spm.model</c>.</param>
    /// <param name="tokenizerConfigPath">Path of <c>tokenizer_config.json</c>; ignored when <see langword="null"/> or missing.</param>
    /// <returns>The tokenizer.</returns>
    public static SentencePieceTokenizer FromFiles(string modelPath, string? tokenizerConfigPath = null)
    {
        TokenizerConfig config = tokenizerConfigPath is null ? TokenizerConfig.Empty : TokenizerConfig.LoadOrDefault(tokenizerConfigPath);
        return new SentencePieceTokenizer(SentencePieceModel.Load(modelPath), SentencePieceOptions.FromConfig(config));
    }

    /// <summary>The normalized form of <paramref name="text"/> that is segmented (spaces as "▁").</summary>
    /// <param name="text">Raw text.</param>
    /// <returns>The normalized text.</returns>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _normalizer.Normalize(Options.LowerCase ? text.ToLowerInvariant() : text);
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

            foreach (UnigramToken token in _segmenter.Segment(Normalize(segment)))
            {
                ids.Add(token.Id);
            }
        }

        return ids;
    }

    /// <inheritdoc />
    public string IdToToken(int id)
    {
        if ((uint)id >= (uint)Model.Pieces.Count)
        {
            throw new ArgumentOutOfRangeException(nameof(id), id, $"id must be in [0, {Model.Pieces.Count}) for {Model.Source}.");
        }

        return Model.Pieces[id].Piece;
    }

    /// <inheritdoc />
    public EncodedInput Encode(string first, string? second, int maxLength) =>
        PairEncoder.Encode(TokenizeToIds(first), second is null ? null : TokenizeToIds(second), maxLength, SpecialTokens);

    private int FindUnknownPiece()
    {
        for (int id = 0; id < Model.Pieces.Count; id++)
        {
            if (Model.Pieces[id].Type == SentencePieceType.Unknown)
            {
                return id;
            }
        }

        throw new InvalidDataException(
            $"{Model.Source} has no \"{Options.SpecialTokens.Unk}\" piece and no piece of type UNKNOWN; name the unknown "
            + $"piece with \"unk_token\" in {TokenizerConfig.FileName}.");
    }

    private int RequirePiece(string piece, string configKey)
    {
        if (_ids.TryGetValue(piece, out int id))
        {
            return id;
        }

        throw new InvalidDataException(
            $"{Model.Source} has no \"{piece}\" piece, which this tokenizer needs as its {configKey}; name the right piece "
            + $"with \"{configKey}\" in {TokenizerConfig.FileName} (DeBERTa-v3 uses [CLS], [SEP], [PAD], [UNK]).");
    }
}
