using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The composed weight <c>W = U·diag(σ)·Vᵀ</c> of a layer whose σ does not train (AVF-frozen, frozen by options,
/// inference under <c>no_grad</c>), kept across calls so that such a layer costs what a frozen <c>Linear</c> costs.
/// </summary>
/// <remarks>
/// TorchSharp exposes no tensor version counter, and σ, U and V can change in place behind the layer's back: a
/// root-level <c>load_state_dict</c> copies into them, an optimizer or a user edits <c>layer.sigma</c> or
/// <c>layer.U</c> in place (or writes through <c>data&lt;T&gt;()</c>). So the cache proves itself current on every use
/// by comparing σ, U and V element for element (exact equality, <c>allclose</c> with zero tolerances) with the copies it
/// was built from, and by checking that they are still the same tensor objects, dtype and device (<c>Module.to</c>
/// replaces them). The check reads <c>r·(d_in + d_out + 1)</c> values, about <c>1/N</c> of the product it saves for N
/// input rows, and needs no copy of anything else; what it costs is memory: W plus copies of U, V and σ while the
/// cache is held. The layer drops the cache as soon as σ trains again and on <c>Module.to</c>.
/// </remarks>
internal sealed class ComposedWeightCache : IDisposable
{
    private Tensor? _weight;
    private Tensor? _sigmaCopy;
    private Tensor? _uCopy;
    private Tensor? _vCopy;

    // The tensors the copies were taken from: a replaced tensor (Module.to) is never compared, only rebuilt from.
    private Tensor? _sigmaSource;
    private Tensor? _uSource;
    private Tensor? _vSource;

    /// <summary>Whether a composed weight is held (tests and diagnostics).</summary>
    public bool IsHeld => _weight is not null;

    /// <summary>How many times the weight was composed (tests and diagnostics).</summary>
    public long Compositions { get; private set; }

    /// <summary>
    /// <c>U·diag(σ)·Vᵀ</c> <c>(out, in)</c>, not tracked by autograd, owned by the cache (do not dispose): the held one
    /// when σ, U and V are exactly what it was built from, otherwise a new one.
    /// </summary>
    public Tensor Get(Tensor u, Tensor sigma, Tensor v)
    {
        if (!IsCurrent(u, sigma, v))
        {
            Rebuild(u, sigma, v);
        }

        return _weight!;
    }

    /// <summary>Releases the held weight and copies (the next <see cref="Get"/> composes again).</summary>
    public void Clear()
    {
        _weight?.Dispose();
        _sigmaCopy?.Dispose();
        _uCopy?.Dispose();
        _vCopy?.Dispose();
        _weight = _sigmaCopy = _uCopy = _vCopy = null;
        _sigmaSource = _uSource = _vSource = null;
    }

    /// <inheritdoc />
    public void Dispose() => Clear();

    /// <summary>How many times U and V were compared with their copies (tests and diagnostics).</summary>
    public long FactorComparisons { get; private set; }

    /// <summary>Open <see cref="FactorsUnchangedScope"/>s on this thread.</summary>
    [ThreadStatic]
    private static int t_assumeFactorsUnchanged;

    /// <summary>Opens a scope in which, on this thread, U and V are trusted and only σ is compared.</summary>
    internal static IDisposable AssumeFactorsUnchanged() => new FactorsUnchangedScope();

    private bool IsCurrent(Tensor u, Tensor sigma, Tensor v)
    {
        if (_weight is null
            || !ReferenceEquals(u, _uSource) || !ReferenceEquals(sigma, _sigmaSource) || !ReferenceEquals(v, _vSource)
            || !Same(sigma, _sigmaCopy!))
        {
            return false;
        }

        if (t_assumeFactorsUnchanged > 0)
        {
            return true;
        }

        FactorComparisons++;
        return Same(u, _uCopy!) && Same(v, _vCopy!);
    }

    private sealed class FactorsUnchangedScope : IDisposable
    {
        private readonly int _threadId = Environment.CurrentManagedThreadId;
        private bool _disposed;

        public FactorsUnchangedScope() => t_assumeFactorsUnchanged++;

        public void Dispose()
        {
            if (_disposed)
            {
                return;
            }

            if (Environment.CurrentManagedThreadId != _threadId)
            {
                throw new InvalidOperationException(
                    "VectorFitLinear.AssumeFactorsUnchanged(): dispose the scope on the thread that opened it (it applies to that thread only); "
                    + "in async code open it around synchronous work.");
            }

            _disposed = true;
            t_assumeFactorsUnchanged--;
        }
    }

    // Exact equality (at::equal: one read of each tensor, no temporaries); NaN never equals NaN, so a diverged σ is
    // recomposed on every call rather than trusted.
    private static bool Same(Tensor current, Tensor copy)
        => !current.IsInvalid
            && current.dtype == copy.dtype
            && current.device_type == copy.device_type
            && current.device_index == copy.device_index
            && current.shape.SequenceEqual(copy.shape)
            && current.Equals(copy);

    private void Rebuild(Tensor u, Tensor sigma, Tensor v)
    {
        Clear();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // The same operations as the uncached materialised path, so the cached and uncached outputs are bit-identical.
        _weight = ThinSvd.Compose(u, sigma, v).DetachFromDisposeScope();
        _sigmaCopy = sigma.detach().clone().DetachFromDisposeScope();
        _uCopy = u.detach().clone().DetachFromDisposeScope();
        _vCopy = v.detach().clone().DetachFromDisposeScope();
        _sigmaSource = sigma;
        _uSource = u;
        _vSource = v;
        Compositions++;
    }
}
