using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

public sealed partial class AdapterBank
{
    /// <summary>
    /// Opens a scope in which, on this thread, the model computes row <c>i</c> of a batch with the adapter
    /// <c>adapterIndices[i]</c> (0 = the base): every adapted layer evaluates <c>((x·V) ⊙ σ[row])·Uᵀ + b[row]</c>, gathering
    /// each row's σ and b, and each head runs on its adapter's rows. One pass for the whole batch, whatever the number of adapters.
    /// </summary>
    /// <param name="adapterIndices">One adapter index per row of the batch the model's forward receives.</param>
    /// <returns>The scope; dispose it on the same thread (a <c>using</c> block) to return to the active adapter.</returns>
    /// <exception cref="ArgumentException">The list is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is not an adapter of the bank (the message names the row).</exception>
    /// <remarks>
    /// <para>
    /// Inside the scope the model's own σ, b and heads (the active adapter) are not used, and a layer or head whose input does not
    /// have the batch in its first dimension throws. The route works with autograd: each adapter's σ, b and head get exactly the
    /// gradient its rows give them (rows do not interact in the adapted layers). With the loss convention "sum over adapters of the
    /// mean loss of its rows" (<c>Σ_k mean_{i ∈ rows(k)} ℓ_i</c>), adapter k's gradients equal those of a batch of its rows alone
    /// under a mean loss; a plain mean over the whole batch scales each adapter's gradients by its share of the rows.
    /// </para>
    /// <para>
    /// Heads: the rows of each adapter present go through the head module in one call each, with the head's tensors pointed at
    /// that adapter's for the call (no copies), and the outputs are put back in row order; a batch of one adapter is one call.
    /// </para>
    /// </remarks>
    public IDisposable Route(int[] adapterIndices)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(adapterIndices);
        if (adapterIndices.Length == 0)
        {
            throw new ArgumentException("A route needs one adapter index per row of the batch; the list is empty.", nameof(adapterIndices));
        }

        for (var row = 0; row < adapterIndices.Length; row++)
        {
            var index = adapterIndices[row];
            if (index < 0 || index >= _entries.Count)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(adapterIndices), index,
                    $"Row {row} asks for adapter index {index}, which is not in the bank: indices go from 0 ({BaseName}) to {_entries.Count - 1} ({string.Join(", ", Names.Select((n, i) => $"{i} = {n}"))}).");
            }
        }

        return AdapterRoute.ForIndices(this, adapterIndices);
    }

    /// <summary>Opens a route by adapter names, one per row (see <see cref="Route(int[])"/>).</summary>
    /// <param name="adapterNames">One adapter name per row (<see cref="BaseName"/> for the base).</param>
    /// <returns>The scope; dispose it on the same thread.</returns>
    /// <exception cref="ArgumentException">A name is not an adapter of the bank, or the list is empty.</exception>
    public IDisposable Route(IReadOnlyList<string> adapterNames)
    {
        ArgumentNullException.ThrowIfNull(adapterNames);
        return Route(adapterNames.Select(IndexOf).ToArray());
    }

    /// <summary>Opens a route from an integer tensor of adapter indices <c>(batch)</c> (see <see cref="Route(int[])"/>).</summary>
    /// <param name="adapterIndices">Adapter indices, int32 or int64, shape <c>(batch)</c>, on any device (read once on the host).</param>
    /// <returns>The scope; dispose it on the same thread.</returns>
    /// <exception cref="ArgumentException">The tensor is not a 1-D integer tensor, or is empty.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is not an adapter of the bank.</exception>
    public IDisposable Route(Tensor adapterIndices)
    {
        ArgumentNullException.ThrowIfNull(adapterIndices);
        if (adapterIndices.dim() != 1 || adapterIndices.dtype is not (ScalarType.Int64 or ScalarType.Int32))
        {
            throw new ArgumentException(
                $"Adapter indices are a 1-D int64 or int32 tensor (one per row); got {adapterIndices.dtype} [{string.Join(", ", adapterIndices.shape)}].", nameof(adapterIndices));
        }

        using var host = adapterIndices.to(ScalarType.Int64, new Device(DeviceType.CPU));
        var values = host.data<long>().ToArray();
        var outOfRange = values.Select((v, row) => (v, row)).FirstOrDefault(p => p.v < 0 || p.v >= _entries.Count);
        if (values.Length > 0 && (outOfRange.v < 0 || outOfRange.v >= _entries.Count))
        {
            throw new ArgumentOutOfRangeException(
                nameof(adapterIndices), outOfRange.v,
                $"Row {outOfRange.row} asks for adapter index {outOfRange.v}, which is not in the bank: indices go from 0 ({BaseName}) to {_entries.Count - 1}.");
        }

        return Route(values.Select(v => (int)v).ToArray());
    }

    /// <summary>
    /// Opens a scope in which row <c>i</c> uses the mixture <c>σ_i = Σ_k weights[i, k]·σ_k</c> (and the same for b and the head
    /// tensors) of the bank's adapters, without composing any weight: <c>((x·V) ⊙ σ_i)·Uᵀ + b_i</c>.
    /// </summary>
    /// <param name="weights">Mixture weights <c>(batch, Count)</c>, floating point, one column per adapter (column 0 the base), finite.</param>
    /// <returns>The scope; dispose it on the same thread.</returns>
    /// <exception cref="ArgumentException">The shape is not <c>(batch, Count)</c>, the dtype is not floating point, or a weight is not finite.</exception>
    /// <remarks>
    /// The weights are not normalised: <c>σ₀ + Σ_k w_k (σ_k − σ₀)</c> is the row <c>[1 − Σ w_k, w_1, …]</c>, which is what
    /// <see cref="Combine"/> builds as an adapter. Rows with the same weights share one call of each head, with the head's
    /// tensors mixed the same way (so any head, linear or not, computes with the mixed tensors).
    /// </remarks>
    public IDisposable RouteMixture(Tensor weights)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.dim() != 2 || weights.shape[1] != _entries.Count || weights.shape[0] == 0 || !torch.is_floating_point(weights.dtype))
        {
            throw new ArgumentException(
                $"Mixture weights are a floating-point (batch, {_entries.Count}) tensor, one column per adapter of the bank ({string.Join(", ", Names)}); got {weights.dtype} [{string.Join(", ", weights.shape)}].",
                nameof(weights));
        }

        using var host = weights.to(ScalarType.Float64, new Device(DeviceType.CPU)).contiguous();
        var flat = host.data<double>().ToArray();
        if (flat.Any(w => !double.IsFinite(w)))
        {
            throw new ArgumentException("Mixture weights must be finite; the tensor holds NaN or infinite values.", nameof(weights));
        }

        var columns = _entries.Count;
        var rows = Enumerable.Range(0, (int)weights.shape[0]).Select(r => flat.Skip(r * columns).Take(columns).ToArray()).ToArray();
        var reference = _entries[0].Sigma[0];
        var onDevice = weights.to(reference.dtype, reference.device, copy: true).DetachFromDisposeScope();
        return AdapterRoute.ForMixture(this, rows, onDevice);
    }

    /// <summary>
    /// Where each layer's σ and b sit in one adapter's row of a routed table (the σ and b of every layer laid end to end, in layer
    /// order; Bias −1 for a layer without one), or <c>null</c> when the layers' vectors differ in dtype or device and cannot share a table.
    /// </summary>
    internal (long Sigma, long Bias)[]? TableLayout
    {
        get
        {
            if (_tableLayoutKnown)
            {
                return _tableLayout;
            }

            var reference = _entries[0].Sigma[0];
            var layout = new (long Sigma, long Bias)[_layers.Count];
            var offset = 0L;
            var uniform = true;
            for (var i = 0; i < _layers.Count; i++)
            {
                var sigma = _entries[0].Sigma[i];
                var bias = _entries[0].Bias[i];
                uniform &= SameKind(sigma, reference) && (bias is null || SameKind(bias, reference));
                layout[i] = (offset, -1);
                offset += sigma.shape[0];
                if (bias is not null)
                {
                    layout[i].Bias = offset;
                    offset += bias.shape[0];
                }
            }

            _tableLayout = uniform ? layout : null;
            _tableLayoutKnown = true;
            return _tableLayout;
        }
    }

    private static bool SameKind(Tensor a, Tensor b) => a.dtype == b.dtype && a.device_type == b.device_type && a.device_index == b.device_index;

    /// <summary>The name of the bank's layer at <paramref name="index"/>.</summary>
    internal string LayerName(int index) => _layers[index].Name;
}
