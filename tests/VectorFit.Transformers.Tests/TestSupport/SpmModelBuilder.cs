using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.TestSupport;

/// <summary>Builds the bytes of a SentencePiece ModelProto (spm.model) for tests.</summary>
internal sealed class SpmModelBuilder
{
    private readonly List<(string Piece, float Score, SentencePieceType Type)> _pieces = [];
    private ProtobufWriter? _trainer;
    private ProtobufWriter? _normalizer;

    /// <summary>The DeBERTa-v3 layout: [PAD]=0, [CLS]=1, [SEP]=2, [UNK]=3.</summary>
    public static SpmModelBuilder WithDebertaSpecials() => new SpmModelBuilder()
        .Add("[PAD]", 0, SentencePieceType.Control)
        .Add("[CLS]", 0, SentencePieceType.Control)
        .Add("[SEP]", 0, SentencePieceType.Control)
        .Add("[UNK]", 0, SentencePieceType.Unknown);

    public SpmModelBuilder Add(string piece, float score, SentencePieceType type = SentencePieceType.Normal)
    {
        _pieces.Add((piece, score, type));
        return this;
    }

    public SpmModelBuilder Trainer(ProtobufWriter trainerSpec)
    {
        _trainer = trainerSpec;
        return this;
    }

    public SpmModelBuilder Normalizer(ProtobufWriter normalizerSpec)
    {
        _normalizer = normalizerSpec;
        return this;
    }

    public int Count => _pieces.Count;

    public byte[] Build()
    {
        var model = new ProtobufWriter();
        foreach (var (piece, score, type) in _pieces)
        {
            var entry = new ProtobufWriter().String(1, piece).Float(2, score);
            if (type != SentencePieceType.Normal)
            {
                entry.Varint(3, (ulong)type); // NORMAL is the proto2 default and is usually omitted
            }

            model.Message(1, entry);
        }

        if (_trainer is not null)
        {
            model.Message(2, _trainer);
        }

        if (_normalizer is not null)
        {
            model.Message(3, _normalizer);
        }

        return model.ToArray();
    }

    public SentencePieceTokenizer BuildTokenizer(SentencePieceOptions? options = null) =>
        new(SentencePieceModel.Parse(Build(), "test.model"), options);
}
