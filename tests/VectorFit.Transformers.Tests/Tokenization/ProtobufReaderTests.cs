using VectorFit.Transformers.Tokenization;

namespace VectorFit.Transformers.Tests.Tokenization;

public sealed class ProtobufReaderTests
{
    [Fact]
    public void Reads_multi_byte_varints_and_tags()
    {
        // Field 2, wire type 0 -> tag 0x10; 300 = 0b1_0010_1100 -> 0xAC 0x02.
        byte[] bytes = [0x10, 0xAC, 0x02];
        var reader = new ProtobufReader(bytes, "t");

        reader.TryReadTag(out int field, out ProtobufWireType wire).Should().BeTrue();
        field.Should().Be(2);
        wire.Should().Be(ProtobufWireType.Varint);
        reader.ReadVarint().Should().Be(300UL);
        reader.IsAtEnd.Should().BeTrue();
        reader.TryReadTag(out _, out _).Should().BeFalse();
    }

    [Fact]
    public void Reads_little_endian_floats_and_length_delimited_strings()
    {
        // Field 2 fixed32 (tag 0x15) = 1.5f = 0x3FC00000; field 1 string (tag 0x0A) "hi".
        byte[] bytes = [0x15, 0x00, 0x00, 0xC0, 0x3F, 0x0A, 0x02, (byte)'h', (byte)'i'];
        var reader = new ProtobufReader(bytes, "t");

        reader.TryReadTag(out _, out ProtobufWireType first).Should().BeTrue();
        first.Should().Be(ProtobufWireType.Fixed32);
        reader.ReadFloat().Should().Be(1.5f);
        reader.TryReadTag(out int field, out _).Should().BeTrue();
        field.Should().Be(1);
        reader.ReadString().Should().Be("hi");
    }

    [Fact]
    public void Length_past_the_end_names_the_offset()
    {
        byte[] bytes = [0x0A, 0x05, (byte)'h'];

        var act = () =>
        {
            var reader = new ProtobufReader(bytes, "f.model");
            reader.TryReadTag(out _, out _);
            reader.ReadLengthDelimited();
        };

        act.Should().Throw<InvalidDataException>().WithMessage("*f.model*byte 1*declares 5 bytes but only 1 remain*");
    }

    [Fact]
    public void Group_wire_types_are_rejected()
    {
        // Field 1, wire type 3 (start group).
        byte[] bytes = [0x0B];

        var act = () =>
        {
            var reader = new ProtobufReader(bytes, "g.model");
            reader.TryReadTag(out _, out ProtobufWireType wire);
            reader.SkipField(wire);
        };

        act.Should().Throw<InvalidDataException>().WithMessage("*unsupported wire type 3*");
    }
}
