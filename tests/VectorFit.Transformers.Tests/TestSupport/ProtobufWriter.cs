using System.Buffers.Binary;
using System.Text;

namespace VectorFit.Transformers.Tests.TestSupport;

/// <summary>A tiny Protocol Buffers wire-format writer used to build spm.model fixtures.</summary>
internal sealed class ProtobufWriter
{
    private readonly MemoryStream _stream = new();

    public ProtobufWriter Varint(int field, ulong value)
    {
        Tag(field, 0);
        RawVarint(value);
        return this;
    }

    public ProtobufWriter Bool(int field, bool value) => Varint(field, value ? 1UL : 0UL);

    public ProtobufWriter Float(int field, float value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(bytes, value);
        _stream.Write(bytes);
        return this;
    }

    public ProtobufWriter Fixed64(int field, ulong value)
    {
        Tag(field, 1);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        _stream.Write(bytes);
        return this;
    }

    public ProtobufWriter Bytes(int field, ReadOnlySpan<byte> value)
    {
        Tag(field, 2);
        RawVarint((ulong)value.Length);
        _stream.Write(value);
        return this;
    }

    public ProtobufWriter String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

    public ProtobufWriter Message(int field, ProtobufWriter message) => Bytes(field, message.ToArray());

    public byte[] ToArray() => _stream.ToArray();

    private void Tag(int field, int wireType) => RawVarint(((ulong)field << 3) | (uint)wireType);

    private void RawVarint(ulong value)
    {
        while (value >= 0x80)
        {
            _stream.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        _stream.WriteByte((byte)value);
    }
}
