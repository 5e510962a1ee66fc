using static TorchSharp.torch;

namespace GlueFineTune.Training;

/// <summary>Command-line names of <c>--factor-dtype</c>: the dtype VectorFit layers store their frozen U and V in.</summary>
internal static class FactorDTypeNames
{
    // float32 is the sample's model dtype, so it means "the weights' own" (no FactorDType): adapters stay as before.
    private static readonly (string Name, ScalarType? DType)[] Table =
    [
        ("float32", null),
        ("bfloat16", ScalarType.BFloat16),
        ("float16", ScalarType.Float16),
    ];

    /// <summary>The accepted names.</summary>
    public static IEnumerable<string> Names => Table.Select(t => t.Name);

    /// <summary>Parses a name (case-insensitive; <c>bf16</c>, <c>fp16</c>, <c>fp32</c> too).</summary>
    /// <param name="name">The name.</param>
    /// <param name="dtype">The factor dtype, <c>null</c> for float32 (the weights' own).</param>
    /// <returns>Whether the name is known.</returns>
    public static bool TryParse(string name, out ScalarType? dtype)
    {
        string canonical = name.ToLowerInvariant() switch
        {
            "bf16" => "bfloat16",
            "fp16" or "half" => "float16",
            "fp32" => "float32",
            var other => other,
        };
        foreach (var (entry, type) in Table)
        {
            if (entry == canonical)
            {
                dtype = type;
                return true;
            }
        }

        dtype = null;
        return false;
    }
}
