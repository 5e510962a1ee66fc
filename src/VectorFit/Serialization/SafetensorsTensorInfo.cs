using static TorchSharp.torch;

namespace VectorFit.Serialization;

/// <summary>One tensor's entry in a safetensors header: its name, dtype, shape and where its bytes lie.</summary>
public sealed class SafetensorsTensorInfo
{
    private readonly long[] _shape;

    internal SafetensorsTensorInfo(string name, string dtype, long[] shape, long begin, long end)
    {
        Name = name;
        DType = dtype;
        _shape = shape;
        Begin = begin;
        End = end;
    }

    /// <summary>The tensor's name (its key in the header).</summary>
    public string Name { get; }

    /// <summary>The dtype as the file writes it, e.g. <c>"F32"</c> or <c>"BF16"</c>.</summary>
    public string DType { get; }

    /// <summary>The TorchSharp element type, or <c>null</c> when TorchSharp has none for <see cref="DType"/> (U16, U32, U64, F8_*).</summary>
    public ScalarType? ScalarType => SafetensorsDType.ToScalarType(DType);

    /// <summary>The shape (a copy; empty for a scalar).</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>The number of elements, the product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (var d in _shape)
            {
                count *= d;
            }

            return count;
        }
    }

    /// <summary>Offset of the first byte, relative to the start of the data section (after the header).</summary>
    public long Begin { get; }

    /// <summary>Offset one past the last byte, relative to the start of the data section.</summary>
    public long End { get; }

    /// <summary>The number of bytes, <c>End − Begin</c>.</summary>
    public long ByteLength => End - Begin;

    /// <summary>A short description: <c>name F32 [768, 3072]</c>.</summary>
    /// <returns>The name, dtype and shape.</returns>
    public override string ToString() => $"{Name} {DType} [{string.Join(", ", _shape)}]";
}
