namespace VectorFit.Transformers.Tokenization;

/// <summary>
/// The parts of a SentencePiece <c>spm.model</c> (a serialized <c>ModelProto</c>) needed to encode text:
/// the pieces (field 1), from the trainer spec (field 2) the model type, byte fallback and whitespace
/// placement, and the normalizer spec (field 3). Other fields are skipped.
/// </summary>
public sealed class SentencePieceModel
{
    /// <summary><c>TrainerSpec.ModelType.UNIGRAM</c>.</summary>
    public const int UnigramModelType = 1;

    private SentencePieceModel(
        string source,
        IReadOnlyList<SentencePieceEntry> pieces,
        int modelType,
        bool byteFallback,
        bool treatWhitespaceAsSuffix,
        SentencePieceNormalizerSpec normalizer)
    {
        Source = source;
        Pieces = pieces;
        ModelType = modelType;
        ByteFallback = byteFallback;
        TreatWhitespaceAsSuffix = treatWhitespaceAsSuffix;
        Normalizer = normalizer;
    }

    /// <summary>Where the model was read from.</summary>
    public string Source { get; }

    /// <summary>The vocabulary; the index of an entry is its id.</summary>
    public IReadOnlyList<SentencePieceEntry> Pieces { get; }

    /// <summary><c>TrainerSpec.model_type</c>: 1 unigram, 2 BPE, 3 word, 4 char.</summary>
    public int ModelType { get; }

    /// <summary><c>TrainerSpec.byte_fallback</c>: unknown text is spelt with <c>&lt;0xXX&gt;</c> byte pieces.</summary>
    public bool ByteFallback { get; }

    /// <summary><c>TrainerSpec.treat_whitespace_as_suffix</c>.</summary>
    public bool TreatWhitespaceAsSuffix { get; }

    /// <summary>The normalizer options.</summary>
    internal SentencePieceNormalizerSpec Normalizer { get; }

    /// <summary>Reads and parses an <c>spm.model</c> file.</summary>
    /// <param name="path">Path of the model file.</param>
    /// <returns>The model.</returns>
    public static SentencePieceModel Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException(
                $"SentencePiece model {path} does not exist; point at a DeBERTa-v3 checkpoint folder that contains spm.model.",
                path);
        }

        return Parse(File.ReadAllBytes(path), path);
    }

    /// <summary>Parses the bytes of a serialized <c>ModelProto</c>.</summary>
    /// <param name="bytes">The file contents.</param>
    /// <param name="source">File name used in error messages.</param>
    /// <returns>The model.</returns>
    public static SentencePieceModel Parse(ReadOnlySpan<byte> bytes, string source)
    {
        var pieces = new List<SentencePieceEntry>();
        int modelType = UnigramModelType;
        bool byteFallback = false;
        bool suffix = false;
        var normalizer = new SentencePieceNormalizerSpec();
        var reader = new ProtobufReader(bytes, source);
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1:
                    reader.Expect("ModelProto.pieces", wire, ProtobufWireType.LengthDelimited);
                    pieces.Add(ReadPiece(reader.ReadMessage($"pieces[{pieces.Count}]"), pieces.Count, source));
                    break;
                case 2:
                    reader.Expect("ModelProto.trainer_spec", wire, ProtobufWireType.LengthDelimited);
                    ReadTrainerSpec(reader.ReadMessage("trainer_spec"), ref modelType, ref byteFallback, ref suffix);
                    break;
                case 3:
                    reader.Expect("ModelProto.normalizer_spec", wire, ProtobufWireType.LengthDelimited);
                    normalizer = ReadNormalizerSpec(reader.ReadMessage("normalizer_spec"), source);
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }

        if (pieces.Count == 0)
        {
            throw new InvalidDataException($"{source}: the SentencePiece model has no pieces; the file is empty or not an spm.model.");
        }

        return new SentencePieceModel(source, pieces, modelType, byteFallback, suffix, normalizer);
    }

    private static SentencePieceEntry ReadPiece(ProtobufReader reader, int index, string source)
    {
        string piece = string.Empty;
        float score = 0f;
        ulong type = (ulong)SentencePieceType.Normal;
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            switch (field)
            {
                case 1:
                    reader.Expect("SentencePiece.piece", wire, ProtobufWireType.LengthDelimited);
                    piece = reader.ReadString();
                    break;
                case 2:
                    reader.Expect("SentencePiece.score", wire, ProtobufWireType.Fixed32);
                    score = reader.ReadFloat();
                    break;
                case 3:
                    reader.Expect("SentencePiece.type", wire, ProtobufWireType.Varint);
                    type = reader.ReadVarint();
                    break;
                default:
                    reader.SkipField(wire);
                    break;
            }
        }

        if (type is < (ulong)SentencePieceType.Normal or > (ulong)SentencePieceType.Byte)
        {
            throw new InvalidDataException(
                $"{source}: piece {index} (\"{piece}\") has type {type}; valid types are 1 (normal) to 6 (byte). Re-download the model.");
        }

        return new SentencePieceEntry(piece, score, (SentencePieceType)type);
    }

    private static void ReadTrainerSpec(ProtobufReader reader, ref int modelType, ref bool byteFallback, ref bool suffix)
    {
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            if (wire == ProtobufWireType.Varint && field is 3 or 24 or 35)
            {
                ulong value = reader.ReadVarint();
                switch (field)
                {
                    case 3:
                        modelType = (int)Math.Min(value, int.MaxValue);
                        break;
                    case 24:
                        suffix = value != 0;
                        break;
                    default:
                        byteFallback = value != 0;
                        break;
                }
            }
            else
            {
                reader.SkipField(wire);
            }
        }
    }

    private static SentencePieceNormalizerSpec ReadNormalizerSpec(ProtobufReader reader, string source)
    {
        var spec = new SentencePieceNormalizerSpec();
        while (reader.TryReadTag(out int field, out ProtobufWireType wire))
        {
            if (field == 1 && wire == ProtobufWireType.LengthDelimited)
            {
                spec = spec with { Name = reader.ReadString() };
            }
            else if (field == 2 && wire == ProtobufWireType.LengthDelimited)
            {
                ReadOnlySpan<byte> blob = reader.ReadLengthDelimited();
                spec = spec with { PrecompiledCharsMap = blob.IsEmpty ? null : PrecompiledCharsMap.Parse(blob, source) };
            }
            else if (field is 3 or 4 or 5 && wire == ProtobufWireType.Varint)
            {
                bool value = reader.ReadVarint() != 0;
                spec = field switch
                {
                    3 => spec with { AddDummyPrefix = value },
                    4 => spec with { RemoveExtraWhitespaces = value },
                    _ => spec with { EscapeWhitespaces = value },
                };
            }
            else
            {
                reader.SkipField(wire);
            }
        }

        return spec;
    }
}
