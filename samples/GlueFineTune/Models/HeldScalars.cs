using TorchSharp;

namespace GlueFineTune.Models;

/// <summary>
/// Scalars the sample passes to libtorch, held in static fields so they live for the whole native call.
/// </summary>
/// <remarks>
/// A <see cref="Scalar"/> made on the fly (an implicit conversion, or TorchSharp's own <c>a.add(b)</c>, which calls
/// <c>add(b, 1)</c>) is unreachable once its handle is read, so a garbage collection started by another thread can
/// finalize it, freeing the native scalar while libtorch still reads it (seen as "Expected false to be true" from
/// <c>toFloat</c>). Constants come from here; run-time values are made with <c>using var s = value.ToScalar();</c>.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>The integer 1: the <c>alpha</c> of a plain <c>add</c>, and a fill value.</summary>
    internal static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 0.</summary>
    internal static readonly Scalar Zero = 0.ToScalar();
}
