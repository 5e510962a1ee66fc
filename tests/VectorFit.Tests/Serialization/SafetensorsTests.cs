using System.Buffers.Binary;
using System.Text;
using TorchSharp;
using VectorFit.Serialization;
using static TorchSharp.torch;

namespace VectorFit.Tests.Serialization;

/// <summary>
/// The safetensors reader and writer: round trips of every supported dtype, a file built byte by byte from the
/// format description (so the reader is checked against the format, not against our own writer), single-tensor
/// reads, and every kind of truncated or corrupt header.
/// </summary>
[Collection("libtorch")]
public sealed class SafetensorsTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-safetensors-").FullName;

    public static TheoryData<ScalarType, string> DTypes => new()
    {
        { ScalarType.Float32, "F32" }, { ScalarType.Float64, "F64" }, { ScalarType.Float16, "F16" }, { ScalarType.BFloat16, "BF16" },
        { ScalarType.Int64, "I64" }, { ScalarType.Int32, "I32" }, { ScalarType.Bool, "BOOL" }, { ScalarType.Int16, "I16" },
        { ScalarType.Int8, "I8" }, { ScalarType.Byte, "U8" },
    };

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [MemberData(nameof(DTypes))]
    public void RoundTrip_KeepsDTypeShapeAndValues(ScalarType type, string dtypeName)
    {
        var path = Path.Combine(_folder, "a.safetensors");
        using var matrix = (torch.arange(12, dtype: ScalarType.Float64).reshape(3, 4) - 5).to(type);
        using var scalar = torch.tensor(7.0, dtype: ScalarType.Float64).to(type);
        using var empty = torch.zeros(new long[] { 0, 3 }, dtype: type);
        using var transposed = matrix.t();

        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["matrix"] = matrix, ["scalar"] = scalar, ["empty"] = empty, ["transposed"] = transposed },
            new Dictionary<string, string> { ["purpose"] = "test" });

        using var reader = SafetensorsReader.Open(path);
        reader.Metadata.Should().Equal(new Dictionary<string, string> { ["purpose"] = "test" });
        reader.Tensors.Select(t => t.Name).Should().Equal("matrix", "scalar", "empty", "transposed");
        reader.GetInfo("matrix").DType.Should().Be(dtypeName);
        foreach (var (name, expected) in new[] { ("matrix", matrix), ("scalar", scalar), ("empty", empty), ("transposed", transposed) })
        {
            using var read = reader.ReadTensor(name);
            read.dtype.Should().Be(type, name);
            read.shape.Should().Equal(expected.shape, name);
            TestTensors.Values(read).Should().Equal(TestTensors.Values(expected), name);
        }
    }

    [Fact]
    public void Reader_ReadsAFileWrittenFromTheFormatDescription()
    {
        // {"__metadata__":{"k":"v"},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}
        // followed by the data of a (1.5, -2) then b (42), little-endian.
        var header = "{\"__metadata__\":{\"k\":\"v\"},\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[8,16]}," +
                     "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}   ";
        var data = new byte[16];
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(0), 1.5f);
        BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(4), -2f);
        BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(8), 42);
        var path = WriteRaw(header, data);

        using var reader = SafetensorsReader.Open(path);
        reader.Metadata["k"].Should().Be("v");
        reader.Contains("a").Should().BeTrue();
        reader.Contains("c").Should().BeFalse();
        using var b = reader.ReadTensor("b");
        b.item<long>().Should().Be(42);
        using var a = reader.ReadTensor("a");
        TestTensors.Values(a).Should().Equal(1.5, -2.0);
    }

    [Fact]
    public void Writer_PadsTheHeaderTo8Bytes_AndWritesLittleEndianLength()
    {
        var path = Path.Combine(_folder, "b.safetensors");
        using var t = torch.ones(3, dtype: ScalarType.Float32);
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = t });

        var bytes = File.ReadAllBytes(path);
        var length = (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        (length % 8).Should().Be(0);
        bytes.Length.Should().Be(8 + (int)length + 12);
        Encoding.UTF8.GetString(bytes, 8, (int)length).TrimEnd().Should().Be("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}");
    }

    [Fact]
    public void ReadTensor_UnknownName_ListsWhatTheFileHas()
    {
        var path = Path.Combine(_folder, "c.safetensors");
        using var t = torch.ones(1);
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["bert.pooler.dense.weight"] = t });
        using var reader = SafetensorsReader.Open(path);

        var act = () => reader.ReadTensor("pooler.dense.weight");
        act.Should().Throw<ArgumentException>().WithMessage("*has no tensor named 'pooler.dense.weight'*1 tensors, e.g. 'bert.pooler.dense.weight'*");
    }

    public static TheoryData<string> CorruptFiles => new(Corruptions.Keys);

    private static readonly Dictionary<string, (Func<byte[], byte[]> Corrupt, string Message)> Corruptions = new()
    {
        ["shorter than 8 bytes"] = (b => b[..5], "*shorter than the 8-byte header length*"),
        ["header length past the end"] = (b => WithLength(b, (ulong)b.Length), "*header claims*truncated*"),
        ["header length absurd"] = (b => WithLength(b, ulong.MaxValue), "*header length*outside*"),
        ["data truncated"] = (b => b[..^3], "*need 12 bytes of data but the file holds 9*truncated*"),
        ["trailing bytes"] = (b => b.Concat(new byte[] { 1, 2 }).ToArray(), "*2 bytes after the last tensor*"),
        ["header not JSON"] = (b => Replace(b, "{\"x\"", "{\"x\"}"), "*header is not valid UTF-8 JSON*"),
        ["unknown dtype"] = (b => Replace(b, "F32", "F99"), "*tensor 'x' has the unknown dtype 'F99'*"),
        ["offsets disagree with shape"] = (b => Replace(b, "[3]", "[4]"), "*needs 16 bytes but its data_offsets [0, 12] span 12*"),
        ["negative shape"] = (b => Replace(b, "[3]", "[-3]"), "*shape entry that is not a non-negative integer*"),
        ["header is an array"] = (b => Replace(b, "{\"x\":", "[{\"x\":", "}}", "}}]"), "*header is a JSON Array, not an object*"),
    };

    [Theory]
    [MemberData(nameof(CorruptFiles))]
    public void Open_CorruptOrTruncatedFile_ThrowsSafetensorsFormatException(string corruption)
    {
        var path = Path.Combine(_folder, "d.safetensors");
        using (var t = torch.ones(3, dtype: ScalarType.Float32))
        {
            SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["x"] = t });
        }

        var (corrupt, message) = Corruptions[corruption];
        File.WriteAllBytes(path, corrupt(File.ReadAllBytes(path)));

        var act = () => SafetensorsReader.Open(path);
        act.Should().Throw<SafetensorsFormatException>().WithMessage($"'{path}' is not a valid safetensors file: {message}");
    }

    [Fact]
    public void Open_GapsOverlapsAndDuplicates_AreRejected()
    {
        var gap = WriteRaw("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        ((Action)(() => SafetensorsReader.Open(gap))).Should().Throw<SafetensorsFormatException>().WithMessage("*gap of 1 bytes before tensor 'a'*");

        var overlap = WriteRaw("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        ((Action)(() => SafetensorsReader.Open(overlap))).Should().Throw<SafetensorsFormatException>().WithMessage("*overlaps*");

        var duplicate = WriteRaw("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", new byte[2]);
        ((Action)(() => SafetensorsReader.Open(duplicate))).Should().Throw<SafetensorsFormatException>().WithMessage("*lists 'a' twice*");
    }

    [Fact]
    public void Save_IsAtomic_ABadInputLeavesTheOldFileAndNoTemporaryFile()
    {
        var path = Path.Combine(_folder, "e.safetensors");
        using var good = torch.ones(2);
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["good"] = good });
        var before = File.ReadAllBytes(path);

        var disposed = torch.ones(2);
        disposed.Dispose();
        var act = () => SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["good"] = good, ["bad"] = disposed });

        act.Should().Throw<ArgumentException>().WithMessage("Tensor 'bad' is null or disposed.*");
        File.ReadAllBytes(path).Should().Equal(before);
        Directory.GetFiles(_folder).Should().Equal(path);

        using var replacement = torch.zeros(5);
        SafetensorsWriter.Save(path, new Dictionary<string, Tensor> { ["replacement"] = replacement });
        using var reader = SafetensorsReader.Open(path);
        reader.Tensors.Select(t => t.Name).Should().Equal("replacement");
        Directory.GetFiles(_folder).Should().Equal(path);
    }

    [Fact]
    public void DType_ComplexTypesHaveNoSafetensorsName()
    {
        var act = () => SafetensorsDType.FromScalarType(ScalarType.ComplexFloat32);
        act.Should().Throw<ArgumentException>().WithMessage("Tensors of type ComplexFloat32 cannot be stored in a safetensors file*");
        SafetensorsDType.ToScalarType("U16").Should().BeNull();
        SafetensorsDType.ElementSize("U16").Should().Be(2);
    }

    private string WriteRaw(string header, byte[] data)
    {
        var path = Path.Combine(_folder, $"raw-{Guid.NewGuid():N}.safetensors");
        var headerBytes = Encoding.UTF8.GetBytes(header);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)headerBytes.Length);
        File.WriteAllBytes(path, length.Concat(headerBytes).Concat(data).ToArray());
        return path;
    }

    private static byte[] WithLength(byte[] bytes, ulong length)
    {
        var copy = (byte[])bytes.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(copy, length);
        return copy;
    }

    // Rewrites the header text (pairs of old, new) and fixes the length field.
    private static byte[] Replace(byte[] bytes, params string[] pairs)
    {
        var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        var header = Encoding.UTF8.GetString(bytes, 8, length);
        for (var i = 0; i < pairs.Length; i += 2)
        {
            var at = i == 2 ? header.LastIndexOf(pairs[i], StringComparison.Ordinal) : header.IndexOf(pairs[i], StringComparison.Ordinal);
            header = header[..at] + pairs[i + 1] + header[(at + pairs[i].Length)..];
        }

        var headerBytes = Encoding.UTF8.GetBytes(header);
        var result = new byte[8 + headerBytes.Length + bytes.Length - 8 - length];
        BinaryPrimitives.WriteUInt64LittleEndian(result, (ulong)headerBytes.Length);
        headerBytes.CopyTo(result, 8);
        bytes.AsSpan(8 + length).CopyTo(result.AsSpan(8 + headerBytes.Length));
        return result;
    }
}
