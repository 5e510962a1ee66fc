using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

public sealed partial class AdapterBank
{
    /// <summary>
    /// Adds the weighted combination of adapters in σ-space: for every σ, b and head tensor,
    /// <c>θ = θ₀ + Σ_k w_k (θ_k − θ₀)</c> (θ₀ the base's). Since <c>ΔW = U·diag(σ − σ₀)·Vᵀ</c> is linear in σ, this is the
    /// combination of the adapters' weight updates, and the new adapter equals the per-row mixture
    /// <c>[1 − Σ w_k, w_1, …]</c> of <see cref="RouteMixture"/>. Save it with <see cref="Save(string, string, AvfOptions?)"/>.
    /// </summary>
    /// <param name="name">A new, unique name for the result.</param>
    /// <param name="weights">The adapters to combine (by name, not the base) with their weights, finite.</param>
    /// <returns>The new adapter's index.</returns>
    /// <exception cref="ArgumentException">A name is unknown, the base, or listed twice; a weight is not finite; the list is empty; the new name is taken.</exception>
    public int Combine(string name, IReadOnlyList<(string name, double weight)> weights)
    {
        var sources = CheckSources(name, weights);
        return AddMerged(name, sources, (_, taus) => WeightedSum(taus, sources));
    }

    /// <summary>
    /// Adds the TIES merge (Yadav et al. 2023, as PEFT's <c>ties</c>) of adapters' task vectors <c>τ_k = θ_k − θ₀</c>, tensor by tensor:
    /// keep the <paramref name="density"/> fraction of each τ_k with the largest magnitudes, elect each entry's sign as the sign of
    /// <c>Σ_k τ_k</c> (the kept values; 0 counts as +), and average the weighted values <c>w_k τ_k</c> that agree with it.
    /// </summary>
    /// <param name="name">A new, unique name for the result.</param>
    /// <param name="weights">The adapters to merge with their weights.</param>
    /// <param name="density">The fraction of each task vector's entries kept, in (0, 1]; <c>floor(density·n)</c> entries of a tensor of n.</param>
    /// <returns>The new adapter's index.</returns>
    /// <exception cref="ArgumentException">As <see cref="Combine"/>, or the density is not in (0, 1].</exception>
    public int Ties(string name, IReadOnlyList<(string name, double weight)> weights, double density)
    {
        CheckDensity(density);
        var sources = CheckSources(name, weights);
        return AddMerged(name, sources, (_, taus) =>
        {
            var trimmed = taus.Select(t => KeepLargest(t, density)).ToArray();
            var stacked = torch.stack(trimmed);
            var elected = torch.where(stacked.sum(dim: 0).ge(HeldScalars.Zero), torch.ones_like(trimmed[0]), torch.ones_like(trimmed[0]).neg());
            var agree = stacked.sign().eq(elected.unsqueeze(0)).to(ScalarType.Float64);
            var weighted = torch.stack(trimmed.Select((t, k) => Scaled(t, sources[k].Weight)).ToArray());
            return weighted.mul(agree).sum(dim: 0).div(agree.sum(dim: 0).clamp_min(HeldScalars.One));
        });
    }

    /// <summary>
    /// Adds the DARE merge (Yu et al. 2024, as PEFT's <c>dare_linear</c>): each task vector <c>τ_k = θ_k − θ₀</c> keeps each entry
    /// with probability <paramref name="density"/> and is rescaled by <c>1/density</c>, then <c>θ = θ₀ + Σ_k w_k τ'_k</c>.
    /// </summary>
    /// <param name="name">A new, unique name for the result.</param>
    /// <param name="weights">The adapters to merge with their weights.</param>
    /// <param name="density">The probability of keeping an entry, in (0, 1].</param>
    /// <param name="seed">The seed of the drop masks: the same seed gives the same adapter.</param>
    /// <returns>The new adapter's index.</returns>
    /// <exception cref="ArgumentException">As <see cref="Combine"/>, or the density is not in (0, 1].</exception>
    /// <remarks>
    /// The masks come from one CPU generator seeded with <paramref name="seed"/>: for each tensor (every layer's σ in layer order, then every b, then the head tensors),
    /// for each adapter in <paramref name="weights"/> order, <c>torch.rand(shape, float64) &lt; density</c>.
    /// </remarks>
    public int Dare(string name, IReadOnlyList<(string name, double weight)> weights, double density, long seed)
    {
        CheckDensity(density);
        var sources = CheckSources(name, weights);
        using var generator = new torch.Generator(unchecked((ulong)seed));
        using var keep = density.ToScalar();
        return AddMerged(name, sources, (_, taus) =>
        {
            var dropped = taus.Select(t => t.mul(torch.rand(t.shape, ScalarType.Float64, generator: generator).lt(keep)).div(keep)).ToArray();
            return WeightedSum(dropped, sources);
        });
    }

    /// <summary>Adds a copy of an adapter whose task vector <c>τ = θ − θ₀</c> keeps only its largest-magnitude <paramref name="density"/> fraction, tensor by tensor.</summary>
    /// <param name="name">A new, unique name for the result.</param>
    /// <param name="source">The adapter to prune.</param>
    /// <param name="density">The fraction of entries kept, in (0, 1]; <c>floor(density·n)</c> of a tensor of n.</param>
    /// <returns>The new adapter's index.</returns>
    /// <exception cref="ArgumentException">The source is unknown or the base, the density is not in (0, 1], or the new name is taken.</exception>
    public int Prune(string name, string source, double density)
    {
        CheckDensity(density);
        var sources = CheckSources(name, [(source, 1.0)]);
        return AddMerged(name, sources, (_, taus) => KeepLargest(taus[0], density));
    }

    private static Tensor WeightedSum(Tensor[] taus, IReadOnlyList<(int Index, double Weight)> sources)
        => torch.stack(taus.Select((t, k) => Scaled(t, sources[k].Weight)).ToArray()).sum(dim: 0);

    private static Tensor Scaled(Tensor tensor, double weight)
    {
        using var w = weight.ToScalar();
        return tensor.mul(w);
    }

    private static Tensor KeepLargest(Tensor tau, double density)
    {
        var keep = (long)(density * tau.numel());
        var flat = tau.reshape(-1);
        var mask = torch.zeros_like(flat);
        if (keep > 0)
        {
            var (_, indices) = flat.abs().topk((int)keep);
            mask = mask.index_fill(0, indices, HeldScalars.One);
        }

        return flat.mul(mask).reshape(tau.shape);
    }

    private static void CheckDensity(double density)
    {
        if (!(density > 0 && density <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(density), density, $"The density is the fraction of entries kept and must be in (0, 1]; got {density}.");
        }
    }

    private List<(int Index, double Weight)> CheckSources(string name, IReadOnlyList<(string name, double weight)> weights)
    {
        ThrowIfDisposed();
        ArgumentNullException.ThrowIfNull(weights);
        if (weights.Count == 0)
        {
            throw new ArgumentException("Name at least one adapter to merge, with its weight.", nameof(weights));
        }

        var sources = new List<(int, double)>();
        foreach (var (source, weight) in weights)
        {
            var index = IndexOf(source);
            if (index == 0)
            {
                throw new ArgumentException($"'{BaseName}' is the base every adapter is measured from (θ₀); merge adapters only, by their names ({string.Join(", ", Names.Skip(1))}).", nameof(weights));
            }

            if (!double.IsFinite(weight))
            {
                throw new ArgumentException($"The weight of '{source}' is {weight}; weights must be finite.", nameof(weights));
            }

            if (sources.Any(s => s.Item1 == index))
            {
                throw new ArgumentException($"'{source}' is listed twice; give each adapter one weight.", nameof(weights));
            }

            sources.Add((index, weight));
        }

        CheckNewName(name);
        return sources;
    }

    /// <summary>Adds <c>θ₀ + merge(τ)</c> for every tensor of the adapters, computed in float64 on the CPU and rounded once to the bank's dtype.</summary>
    private int AddMerged(string name, List<(int Index, double Weight)> sources, Func<int, Tensor[], Tensor> merge)
    {
        var baseEntry = _entries[0];
        var baseTensors = baseEntry.Sigma.Concat(baseEntry.Bias.OfType<Tensor>()).Concat(baseEntry.Head).ToList();
        var merged = new List<Tensor>();
        var cpu = new Device(DeviceType.CPU);
        try
        {
            using var noGrad = torch.no_grad();
            for (var p = 0; p < baseTensors.Count; p++)
            {
                var baseTensor = baseTensors[p];
                using var scope = torch.NewDisposeScope();
                Tensor result;
                if (!torch.is_floating_point(baseTensor.dtype))
                {
                    result = baseTensor.detach().clone();
                }
                else
                {
                    var base64 = baseTensor.detach().to(ScalarType.Float64, cpu);
                    var position = p;
                    var taus = sources.Select(s => Flattened(_entries[s.Index])[position].detach().to(ScalarType.Float64, cpu).sub(base64)).ToArray();
                    result = base64.add(merge(p, taus), HeldScalars.One).to(baseTensor.dtype, baseTensor.device);
                }

                merged.Add(result.DetachFromDisposeScope());
            }

            var sigmaCount = baseEntry.Sigma.Count;
            var biasPositions = new Dictionary<int, int>();
            var next = sigmaCount;
            for (var i = 0; i < baseEntry.Bias.Count; i++)
            {
                if (baseEntry.Bias[i] is not null)
                {
                    biasPositions[i] = next++;
                }
            }

            return AddEntry(name, i => merged[i], i => biasPositions.TryGetValue(i, out var at) ? merged[at] : null, s => merged[next + s]);
        }
        finally
        {
            foreach (var tensor in merged)
            {
                tensor.Dispose();
            }
        }
    }

    private static List<Tensor> Flattened(BankEntry entry) => entry.Sigma.Concat(entry.Bias.OfType<Tensor>()).Concat(entry.Head).ToList();
}
