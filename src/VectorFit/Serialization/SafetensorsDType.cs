using static TorchSharp.torch;

namespace VectorFit.Serialization;

/// <summary>
/// The safetensors dtype names (<c>"F32"</c>, <c>"BF16"</c>, …), their element sizes and the TorchSharp
/// <see cref="ScalarType"/> each maps to.
/// </summary>
public static class SafetensorsDType
{
    // Element sizes of every dtype the format defines, so a header with a dtype TorchSharp cannot hold
    // still validates (its other tensors stay readable).
    private static readonly Dictionary<string, int> Sizes = new(StringComparer.Ordinal)
    {
        ["BOOL"] = 1, ["U8"] = 1, ["I8"] = 1, ["F8_E4M3"] = 1, ["F8_E5M2"] = 1,
        ["I16"] = 2, ["U16"] = 2, ["F16"] = 2, ["BF16"] = 2,
        ["I32"] = 4, ["U32"] = 4, ["F32"] = 4,
        ["I64"] = 8, ["U64"] = 8, ["F64"] = 8,
    };

    private static readonly Dictionary<string, ScalarType> ToScalar = new(StringComparer.Ordinal)
    {
        ["BOOL"] = ScalarType.Bool, ["U8"] = ScalarType.Byte, ["I8"] = ScalarType.Int8,
        ["I16"] = ScalarType.Int16, ["I32"] = ScalarType.Int32, ["I64"] = ScalarType.Int64,
        ["F16"] = ScalarType.Float16, ["BF16"] = ScalarType.BFloat16,
        ["F32"] = ScalarType.Float32, ["F64"] = ScalarType.Float64,
    };

    /// <summary>The dtype names TorchSharp can read and write: BOOL, U8, I8, I16, I32, I64, F16, BF16, F32, F64.</summary>
    public static IReadOnlyCollection<string> Supported => ToScalar.Keys;

    /// <summary>The element size in bytes of a safetensors dtype, or <c>null</c> when the format does not define it.</summary>
    /// <param name="dtype">A safetensors dtype name, e.g. <c>"F32"</c>.</param>
    /// <returns>1, 2, 4 or 8; <c>null</c> for an unknown name.</returns>
    public static int? ElementSize(string dtype)
        => dtype is not null && Sizes.TryGetValue(dtype, out var size) ? size : null;

    /// <summary>The TorchSharp element type of a safetensors dtype, or <c>null</c> when TorchSharp has none (U16, U32, U64, F8_*).</summary>
    /// <param name="dtype">A safetensors dtype name, e.g. <c>"BF16"</c>.</param>
    /// <returns>The matching <see cref="ScalarType"/>, or <c>null</c>.</returns>
    public static ScalarType? ToScalarType(string dtype)
        => dtype is not null && ToScalar.TryGetValue(dtype, out var type) ? type : null;

    /// <summary>The safetensors dtype name of a TorchSharp element type.</summary>
    /// <param name="type">The element type of a tensor to save.</param>
    /// <returns>The name, e.g. <c>"F32"</c>.</returns>
    /// <exception cref="ArgumentException">The type has no safetensors name (complex types).</exception>
    public static string FromScalarType(ScalarType type)
    {
        foreach (var (name, scalar) in ToScalar)
        {
            if (scalar == type)
            {
                return name;
            }
        }

        throw new ArgumentException(
            $"Tensors of type {type} cannot be stored in a safetensors file; supported types are {string.Join(", ", Supported)}. Convert the tensor first, e.g. with .to(ScalarType.Float32).",
            nameof(type));
    }
}
