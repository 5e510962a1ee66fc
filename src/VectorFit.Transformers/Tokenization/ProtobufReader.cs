using System.Buffers.Binary;
using System.Text;

namespace VectorFit.Transformers.Tokenization;

/// <summary>Protocol Buffers wire types.</summary>
internal enum ProtobufWireType
{
    /// <summary>Base-128 varint (int32, int64, bool, enum).</summary>
    Varint = 0,

    /// <summary>Little-endian 8 bytes (fixed64, double).</summary>
    Fixed64 = 1,

    /// <summary>Length prefix then bytes (string, bytes, embedded message, packed repeated).</summary>
    LengthDelimited = 2,

    /// <summary>Deprecated group start (not supported).</summary>
    StartGroup = 3,

    /// <summary>Deprecated group end (not supported).</summary>
    EndGroup = 4,

    /// <summary>Little-endian 4 bytes (fixed32, float).</summary>
    Fixed32 = 5,
}

/// <summary>
/// A minimal forward-only reader of the Protocol Buffers wire format over a byte span: tags, varints,
/// fixed32/fixed64 and length-delimited fields. Enough to read SentencePiece's and ONNX's <c>ModelProto</c>.
/// </summary>
internal ref struct ProtobufReader
{
    private readonly ReadOnlySpan<byte> _data;
    private readonly string _context;
    private readonly string _fileKind;
    private readonly int _baseOffset;
    private int _position;

    /// <summary>Creates a reader.</summary>
    /// <param name="data">The serialized message.</param>
    /// <param name="context">What is being read (file and message), for error messages.</param>
    /// <param name="baseOffset">Offset of <paramref name="data"/> inside the file, for error messages.</param>
    /// <param name="fileKind">What the file should be, for error messages (e.g. "a SentencePiece model").</param>
    public ProtobufReader(ReadOnlySpan<byte> data, string context, int baseOffset = 0, string fileKind = "a SentencePiece model")
    {
        _data = data;
        _context = context;
        _fileKind = fileKind;
        _baseOffset = baseOffset;
        _position = 0;
    }

    /// <summary>Whether all bytes have been consumed.</summary>
    public readonly bool IsAtEnd => _position >= _data.Length;

    /// <summary>Current offset inside the file (base offset plus position).</summary>
    public readonly int FileOffset => _baseOffset + _position;

    /// <summary>Reads the next field tag.</summary>
    /// <param name="fieldNumber">The field number.</param>
    /// <param name="wireType">The wire type.</param>
    /// <returns><see langword="false"/> at the end of the message.</returns>
    public bool TryReadTag(out int fieldNumber, out ProtobufWireType wireType)
    {
        if (IsAtEnd)
        {
            fieldNumber = 0;
            wireType = default;
            return false;
        }

        int tagOffset = FileOffset;
        ulong tag = ReadVarint();
        fieldNumber = (int)(tag >> 3);
        wireType = (ProtobufWireType)(tag & 7);
        if (fieldNumber == 0 || tag >> 3 > int.MaxValue)
        {
            throw Error($"invalid field number {tag >> 3} in tag at byte {tagOffset}");
        }

        return true;
    }

    /// <summary>Reads a base-128 varint.</summary>
    /// <returns>The value.</returns>
    public ulong ReadVarint()
    {
        int start = FileOffset;
        ulong result = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (IsAtEnd)
            {
                throw Error($"varint starting at byte {start} runs past the end of the data");
            }

            byte b = _data[_position++];
            result |= (ulong)(b & 0x7F) << shift;
            if ((b & 0x80) == 0)
            {
                return result;
            }
        }

        throw Error($"varint starting at byte {start} is longer than 10 bytes");
    }

    /// <summary>Reads a little-endian 32-bit value.</summary>
    /// <returns>The raw bits.</returns>
    public uint ReadFixed32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4, "fixed32"));

    /// <summary>Reads a little-endian 64-bit value.</summary>
    /// <returns>The raw bits.</returns>
    public ulong ReadFixed64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8, "fixed64"));

    /// <summary>Reads a <c>float</c> (fixed32).</summary>
    /// <returns>The value.</returns>
    public float ReadFloat() => BitConverter.Int32BitsToSingle((int)ReadFixed32());

    /// <summary>Reads a length prefix and returns that many bytes.</summary>
    /// <returns>The field's bytes.</returns>
    public ReadOnlySpan<byte> ReadLengthDelimited()
    {
        int start = FileOffset;
        ulong length = ReadVarint();
        if (length > (ulong)(_data.Length - _position))
        {
            throw Error($"length-delimited field at byte {start} declares {length} bytes but only {_data.Length - _position} remain");
        }

        return Take((int)length, "length-delimited field");
    }

    /// <summary>Reads a length-delimited field as an embedded message.</summary>
    /// <param name="context">Name of the embedded message, for error messages.</param>
    /// <returns>A reader over the embedded message.</returns>
    public ProtobufReader ReadMessage(string context)
    {
        ReadOnlySpan<byte> bytes = ReadLengthDelimited();
        int contentOffset = FileOffset - bytes.Length;
        return new ProtobufReader(bytes, $"{_context} > {context}", contentOffset, _fileKind);
    }

    /// <summary>Reads a length-delimited UTF-8 string.</summary>
    /// <returns>The string.</returns>
    public string ReadString() => Encoding.UTF8.GetString(ReadLengthDelimited());

    /// <summary>Skips a field of the given wire type.</summary>
    /// <param name="wireType">The wire type from the field's tag.</param>
    public void SkipField(ProtobufWireType wireType)
    {
        switch (wireType)
        {
            case ProtobufWireType.Varint:
                ReadVarint();
                break;
            case ProtobufWireType.Fixed64:
                Take(8, "fixed64");
                break;
            case ProtobufWireType.LengthDelimited:
                ReadLengthDelimited();
                break;
            case ProtobufWireType.Fixed32:
                Take(4, "fixed32");
                break;
            default:
                throw Error($"unsupported wire type {(int)wireType} before byte {FileOffset}");
        }
    }

    /// <summary>Throws unless <paramref name="actual"/> is the wire type a field must have.</summary>
    /// <param name="fieldName">The field's name in the schema.</param>
    /// <param name="actual">The wire type read from the tag.</param>
    /// <param name="expected">The wire type the schema requires.</param>
    public readonly void Expect(string fieldName, ProtobufWireType actual, ProtobufWireType expected)
    {
        if (actual != expected)
        {
            throw Error($"field {fieldName} has wire type {actual} but must be {expected} (at byte {FileOffset})");
        }
    }

    private ReadOnlySpan<byte> Take(int count, string what)
    {
        if (_data.Length - _position < count)
        {
            throw Error($"{what} at byte {FileOffset} needs {count} bytes but only {_data.Length - _position} remain");
        }

        ReadOnlySpan<byte> slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    private readonly InvalidDataException Error(string detail) =>
        new($"{_context}: malformed protobuf, {detail}. The file is truncated or not {_fileKind}; re-download it.");
}
