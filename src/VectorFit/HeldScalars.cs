using TorchSharp;

namespace VectorFit;

/// <summary>
/// Scalars the library passes to libtorch, held in static fields so they live for the whole native call.
/// </summary>
/// <remarks>
/// A <see cref="Scalar"/> made on the fly (an implicit conversion, or TorchSharp's own <c>a + b</c>, which calls
/// <c>add(b, 1)</c>) is unreachable once its handle is read, so a garbage collection started by another thread can
/// finalize it, freeing the native scalar while libtorch still reads it. Constants come from here; values known
/// only at run time are made with <c>using var s = value.ToScalar();</c>. <c>ScalarLifetimeTests</c> enforces both.
/// </remarks>
internal static class HeldScalars
{
    /// <summary>The integer 1: the <c>alpha</c> of a plain <c>add</c>, and an <c>index_add</c> weight.</summary>
    internal static readonly Scalar One = 1.ToScalar();

    /// <summary>The integer 0.</summary>
    internal static readonly Scalar Zero = 0.ToScalar();
}
