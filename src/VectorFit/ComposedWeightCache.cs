using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// The composed weight <c>W = U·diag(σ)·Vᵀ</c> of a layer whose σ does not train (AVF-frozen, frozen by options,
/// inference under <c>no_grad</c>), kept across calls so that such a layer costs what a frozen <c>Linear</c> costs
/// (<see cref="ComposedWeightMode.Speed"/>).
/// </summary>
/// <remarks>
/// <para>
/// The cache holds W and a copy of σ, nothing else: <c>d_out·d_in + r</c> values. It is reused only when it provably
/// matches the layer's current σ, U and V:
/// </para>
/// <list type="bullet">
/// <item>σ (r values) is compared element for element with its copy (exact, and it sees every kind of write, an
/// optimizer's, AVF's, a raw one).</item>
/// <item>U and V are not copied. They must be the same tensor objects with the same dtype, device, shape, strides and
/// storage offset (<c>Module.to</c> replaces them), and libtorch's version counter of each must not have moved
/// (<see cref="TensorVersion"/>: every in-place operation through any handle, <c>copy_</c> from
/// <c>load_state_dict</c>, <c>mul_</c>, <c>set_</c>, also under <c>no_grad</c>).</item>
/// <item>Writes that bypass libtorch (<c>data&lt;T&gt;()</c>, <c>bytes</c>, <c>ReadBytesFromStream</c>, which
/// TorchSharp's <c>Module.load</c> uses on the CPU) are not counted by libtorch. Every way to obtain U or V passes
/// through the layer (its <c>U</c> and <c>V</c> properties, <c>state_dict</c>, <c>named_buffers</c>,
/// <c>get_buffer</c>: a parent's call reaches the layer's override), so the layer counts those hand-outs and the
/// cache is rebuilt after one (the <c>handouts</c> argument of <see cref="Get"/>). The one write no check without a
/// copy can see is a raw write through a handle kept from before the layer's last forward.</item>
/// </list>
/// <para>
/// Where the version counter is unavailable (see <see cref="TensorVersion.IsAvailable"/>) or U or V is an inference
/// tensor, <see cref="CanProve"/> is false and the layer evaluates without the cache.
/// </para>
/// </remarks>
internal sealed class ComposedWeightCache : IDisposable
{
    private Tensor? _weight;
    private Tensor? _sigmaCopy;
    private Tensor? _sigmaSource;
    private FactorStamp _u;
    private FactorStamp _v;
    private long _handouts;

    /// <summary>Whether a composed weight is held (tests and diagnostics).</summary>
    public bool IsHeld => _weight is not null;

    /// <summary>How many values the cache holds (W and the copy of σ; tests and diagnostics).</summary>
    public long HeldValues => (_weight?.numel() ?? 0) + (_sigmaCopy?.numel() ?? 0);

    /// <summary>How many times the weight was composed (tests and diagnostics).</summary>
    public long Compositions { get; private set; }

    /// <summary>How many times the versions of U and V were checked (tests and diagnostics).</summary>
    public long FactorComparisons { get; private set; }

    /// <summary>Open <see cref="FactorsUnchangedScope"/>s on this thread.</summary>
    [ThreadStatic]
    private static int t_assumeFactorsUnchanged;

    /// <summary>Whether the cache can prove itself current for these factors (libtorch's version counter reaches them).</summary>
    public static bool CanProve(Tensor u, Tensor v) => TensorVersion.TryGet(u, out _) && TensorVersion.TryGet(v, out _);

    /// <summary>
    /// <c>U·diag(σ)·Vᵀ</c> <c>(out, in)</c>, not tracked by autograd, owned by the cache (do not dispose): the held one
    /// when σ, U and V are provably what it was built from and U, V were not handed out since (<paramref name="handouts"/>
    /// is the layer's count of hand-outs), otherwise a new one. Call only when <see cref="CanProve"/> is true.
    /// </summary>
    public Tensor Get(Tensor u, Tensor sigma, Tensor v, long handouts)
    {
        if (!IsCurrent(u, sigma, v, handouts))
        {
            Rebuild(u, sigma, v, handouts);
        }

        return _weight!;
    }

    /// <summary>Releases the held weight (the next <see cref="Get"/> composes again).</summary>
    public void Clear()
    {
        _weight?.Dispose();
        _sigmaCopy?.Dispose();
        _weight = _sigmaCopy = null;
        _sigmaSource = null;
        _u = _v = default;
    }

    /// <inheritdoc />
    public void Dispose() => Clear();

    /// <summary>Opens a scope in which, on this thread, U and V are trusted and only σ is compared.</summary>
    internal static IDisposable AssumeFactorsUnchanged() => new FactorsUnchangedScope();

    private bool IsCurrent(Tensor u, Tensor sigma, Tensor v, long handouts)
    {
        if (_weight is null || !ReferenceEquals(sigma, _sigmaSource) || !_u.SameObject(u) || !_v.SameObject(v) || !SameValues(sigma, _sigmaCopy!))
        {
            return false;
        }

        if (t_assumeFactorsUnchanged > 0)
        {
            return true;
        }

        FactorComparisons++;
        return handouts == _handouts && _u.Matches(u) && _v.Matches(v);
    }

    private void Rebuild(Tensor u, Tensor sigma, Tensor v, long handouts)
    {
        Clear();
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        // The same operations as the uncached materialised path, so the cached and uncached outputs are bit-identical: U and V
        // stored narrower than σ (a layer's FactorDType) are converted to σ's dtype here, transiently; the stamps below are of
        // the stored tensors, so the proof refers to them and not to these copies.
        var uc = u.dtype == sigma.dtype ? u : u.to(sigma.dtype);
        var vc = v.dtype == sigma.dtype ? v : v.to(sigma.dtype);
        _weight = ThinSvd.Compose(uc, sigma, vc).DetachFromDisposeScope();
        _sigmaCopy = sigma.detach().clone().DetachFromDisposeScope();
        _sigmaSource = sigma;
        _u = FactorStamp.Of(u);
        _v = FactorStamp.Of(v);
        _handouts = handouts;
        Compositions++;
    }

    // Exact equality (at::equal: one read of each tensor, no temporaries); NaN never equals NaN, so a diverged σ is
    // recomposed on every call rather than trusted.
    private static bool SameValues(Tensor current, Tensor copy)
        => !current.IsInvalid
            && current.dtype == copy.dtype
            && current.device_type == copy.device_type
            && current.device_index == copy.device_index
            && current.shape.SequenceEqual(copy.shape)
            && current.Equals(copy);

    /// <summary>What identifies a factor's values without reading them: the object, its layout and libtorch's version.</summary>
    private readonly record struct FactorStamp(Tensor? Source, ScalarType DType, DeviceType DeviceType, int DeviceIndex, long[]? Shape, long[]? Strides, long Offset, long Version)
    {
        public static FactorStamp Of(Tensor t)
        {
            TensorVersion.TryGet(t, out var version);
            return new(t, t.dtype, t.device_type, t.device_index, t.shape, t.stride(), t.storage_offset(), version);
        }

        public bool SameObject(Tensor t)
            => ReferenceEquals(t, Source) && !t.IsInvalid && t.dtype == DType && t.device_type == DeviceType && t.device_index == DeviceIndex;

        public bool Matches(Tensor t)
            => TensorVersion.TryGet(t, out var version) && version == Version
                && t.shape.SequenceEqual(Shape!) && t.stride().SequenceEqual(Strides!) && t.storage_offset() == Offset;
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
}
