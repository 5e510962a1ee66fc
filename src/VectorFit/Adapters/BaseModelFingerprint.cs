using System.Globalization;
using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace VectorFit.Adapters;

/// <summary>One frozen base tensor's fingerprint: its name, shape, dtype and a random-projection probe of its values.</summary>
internal sealed class TensorProbe
{
    public required string Name { get; init; }

    public required string ElementType { get; init; }

    public required long[] Shape { get; init; }

    /// <summary><c>qᵀ·T·p</c> for fixed probe vectors p and q (T viewed as a matrix; for an adapted layer, T = U·Vᵀ).</summary>
    public required double Value { get; init; }

    /// <summary><c>‖q‖·‖p‖·‖T‖_F</c>, the largest |Value| can be: the scale for the tolerance.</summary>
    public required double Bound { get; init; }

    /// <summary>
    /// The same probe with the tensor cast to other floating dtypes first (on saving: every coarser one; on loading: the
    /// recorded dtype), so that a base model cast with <c>model.to(dtype)</c> compares exactly; <c>null</c> when none.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public List<CastProbe>? Casts { get; init; }
}

/// <summary>A <see cref="TensorProbe"/> of the tensor cast to <see cref="ElementType"/>.</summary>
internal sealed class CastProbe
{
    public required string ElementType { get; init; }

    public required double Value { get; init; }

    public required double Bound { get; init; }
}

/// <summary>
/// Identifies the base model an adapter was trained on without storing it: a probe of every base parameter the
/// adapter does not hold (including the σ or b an adapted layer keeps frozen) and, for each adapted layer, of
/// <c>U·Vᵀ</c>. That polar factor of the SVD does not depend on the signs or rotations LAPACK picks, so the same
/// base weights give the same probe on any device up to round-off; and with σ and b taken from the adapter it
/// fixes the layer (<c>W = U·diag(σ)·Vᵀ</c>), so equal probes mean equal outputs after loading. An SVFT layer keeps σ as a
/// frozen buffer, so its σ is probed too (<c>name.sigma</c>); its <c>M</c> lives in a sign-canonical basis
/// (<see cref="SvftLinear"/>), which the same weights reproduce.
/// </summary>
/// <remarks>
/// The tensors the adapter holds (trained vectors, fully trained modules) are left out, and so are buffers
/// (running statistics change during training). Probes agree within 1e-5 (1e-3 for 16-bit dtypes) of their
/// bound; two different weight tensors of n elements differ by about bound/√n, far more. A base model in another floating
/// dtype (<c>model.to(BFloat16)</c> before or after the surgery) is the same base: each tensor is also probed cast to the
/// coarser dtypes when saving, and to the recorded dtype when loading, and the two sides compare in the coarser dtype,
/// where rounding the finer tensor reproduces the coarser one exactly.
/// </remarks>
internal static class BaseModelFingerprint
{
    private const double Tolerance = 1e-5;
    private const double HalfTolerance = 1e-3;

    /// <summary>
    /// Probes the base tensors of <paramref name="model"/> that the adapter does not hold (<paramref name="adapterTensors"/>, <paramref name="modulesToSave"/>), sorted by name.
    /// Without <paramref name="recorded"/> (saving), each floating tensor is also probed cast to every coarser floating dtype; with it (loading),
    /// cast to the recorded dtype where that differs.
    /// </summary>
    public static List<TensorProbe> Compute(
        nn.Module model, IReadOnlyList<(string Name, nn.Module Layer)> layers, IReadOnlyList<string> modulesToSave, IReadOnlyCollection<string> adapterTensors,
        IReadOnlyList<TensorProbe>? recorded = null)
    {
        var recordedTypes = recorded?.ToDictionary(p => p.Name, p => p.ElementType, StringComparer.Ordinal);
        IReadOnlyList<ScalarType> CastsFor(string name, ScalarType own)
        {
            if (!IsFloating(own))
            {
                return Array.Empty<ScalarType>();
            }

            if (recordedTypes is null)
            {
                return CastTargets.Where(t => MantissaBits(t) < MantissaBits(own)).ToList();
            }

            return recordedTypes.TryGetValue(name, out var type) && Enum.TryParse<ScalarType>(type, out var target) && target != own && IsFloating(target)
                ? new[] { target }
                : Array.Empty<ScalarType>();
        }

        using var noGrad = torch.no_grad();
        var held = adapterTensors.ToHashSet(StringComparer.Ordinal);
        var probes = new List<TensorProbe>();
        var seen = new HashSet<IntPtr>();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (!seen.Add(parameter.Handle) || held.Contains(name) || modulesToSave.Any(m => NameMatch.IsWithin(name, m)))
            {
                continue;
            }

            var (value, bound) = ProbeTensor(parameter);
            var casts = CastsFor(name, parameter.dtype).Select(t => Cast(t, ProbeTensorAs(parameter, t))).ToList();
            probes.Add(new TensorProbe { Name = name, ElementType = parameter.dtype.ToString(), Shape = parameter.shape, Value = value, Bound = bound, Casts = NullIfEmpty(casts) });
        }

        foreach (var (name, layer) in layers)
        {
            var (u, v, frozenSigma) = AdaptedLayers.Factors(layer);
            var (value, bound) = ProbePolarFactor(u, v);
            var polarName = $"{name}.U·Vᵀ";
            probes.Add(new TensorProbe
            {
                Name = polarName,
                ElementType = u.dtype.ToString(),
                Shape = new[] { u.shape[0], v.shape[0] },
                Value = value,
                Bound = bound,
                Casts = NullIfEmpty(CastsFor(polarName, u.dtype).Select(t => Cast(t, ProbePolarFactorAs(u, v, t))).ToList()),
            });

            if (frozenSigma is not null)
            {
                var sigmaName = $"{name}.sigma";
                var (sigmaValue, sigmaBound) = ProbeTensor(frozenSigma);
                var casts = CastsFor(sigmaName, frozenSigma.dtype).Select(t => Cast(t, ProbeTensorAs(frozenSigma, t))).ToList();
                probes.Add(new TensorProbe { Name = sigmaName, ElementType = frozenSigma.dtype.ToString(), Shape = frozenSigma.shape, Value = sigmaValue, Bound = sigmaBound, Casts = NullIfEmpty(casts) });
            }
        }

        probes.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return probes;
    }

    /// <summary>The differences between the recorded probes and the model's, one line each.</summary>
    public static List<string> Compare(IReadOnlyList<TensorProbe> recorded, IReadOnlyList<TensorProbe> current)
    {
        var problems = new List<string>();
        var now = current.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var saved in recorded)
        {
            if (!now.Remove(saved.Name, out var probe))
            {
                problems.Add($"base tensor '{saved.Name}' of the adapter's base model is not a frozen tensor of this model");
                continue;
            }

            // A dtype change (model.to(BFloat16) after the surgery, or before it) compares in the coarser dtype, where the cast
            // of the finer tensor reproduces the coarser one exactly; any other dtype difference is a different base.
            var (savedValue, savedBound, currentValue, currentBound, type) = saved.ElementType == probe.ElementType
                ? (saved.Value, saved.Bound, probe.Value, probe.Bound, probe.ElementType)
                : saved.Casts?.FirstOrDefault(c => c.ElementType == probe.ElementType) is { } savedCast
                    ? (savedCast.Value, savedCast.Bound, probe.Value, probe.Bound, probe.ElementType)
                    : probe.Casts?.FirstOrDefault(c => c.ElementType == saved.ElementType) is { } currentCast
                        ? (saved.Value, saved.Bound, currentCast.Value, currentCast.Bound, saved.ElementType)
                        : (double.NaN, double.NaN, double.NaN, double.NaN, string.Empty);
            if (!saved.Shape.SequenceEqual(probe.Shape) || type.Length == 0)
            {
                problems.Add($"base tensor '{saved.Name}' is {probe.ElementType} [{string.Join(", ", probe.Shape)}] here but {saved.ElementType} [{string.Join(", ", saved.Shape)}] in the adapter's base model");
                continue;
            }

            var tolerance = (type is nameof(ScalarType.Float16) or nameof(ScalarType.BFloat16) ? HalfTolerance : Tolerance) * Math.Max(savedBound, currentBound);
            if (!(Math.Abs(savedValue - currentValue) <= tolerance) || !(Math.Abs(savedBound - currentBound) <= tolerance))
            {
                var cast = type == probe.ElementType && type == saved.ElementType ? string.Empty : $" (compared as {type})";
                problems.Add(string.Create(CultureInfo.InvariantCulture,
                    $"base tensor '{saved.Name}' holds different values{cast} (probe {currentValue:G6}, norm scale {currentBound:G6}; the adapter's base model had {savedValue:G6}, {savedBound:G6})"));
            }
        }

        problems.AddRange(now.Keys.Select(name => $"this model has the frozen tensor '{name}', which the adapter's base model did not have"));
        return problems;
    }

    private static readonly ScalarType[] CastTargets = { ScalarType.Float32, ScalarType.Float16, ScalarType.BFloat16 };

    private static bool IsFloating(ScalarType type) => type is ScalarType.Float64 or ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16;

    private static int MantissaBits(ScalarType type) => type switch
    {
        ScalarType.Float64 => 52,
        ScalarType.Float32 => 23,
        ScalarType.Float16 => 10,
        ScalarType.BFloat16 => 7,
        _ => 0,
    };

    private static CastProbe Cast(ScalarType type, (double Value, double Bound) probe)
        => new() { ElementType = type.ToString(), Value = probe.Value, Bound = probe.Bound };

    private static List<CastProbe>? NullIfEmpty(List<CastProbe> casts) => casts.Count == 0 ? null : casts;

    private static (double Value, double Bound) ProbeTensorAs(Tensor tensor, ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        return ProbeTensor(tensor.detach().to(type));
    }

    private static (double Value, double Bound) ProbePolarFactorAs(Tensor u, Tensor v, ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        return ProbePolarFactor(u.detach().to(type), v.detach().to(type));
    }

    private static (double Value, double Bound) ProbeTensor(Tensor tensor)
    {
        var count = tensor.numel();
        if (count == 0)
        {
            return (0, 0);
        }

        using var scope = torch.NewDisposeScope();
        var rows = tensor.dim() == 0 ? 1 : tensor.shape[0];
        var columns = count / rows;
        var type = tensor.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var matrix = tensor.detach().reshape(rows, columns).to(type);
        var p = Probe(columns, 0.7, 0.1, type, tensor.device);
        var q = Probe(rows, 1.3, 0.2, ScalarType.Float64, tensor.device);
        var value = (matrix.mv(p).to(ScalarType.Float64) * q).sum().item<double>();
        // The norm is taken in the working dtype: a float64 copy of a large embedding would double its memory.
        var bound = q.norm().item<double>() * p.to(ScalarType.Float64).norm().item<double>() * matrix.norm().to(ScalarType.Float64).item<double>();
        return (value, bound);
    }

    private static (double Value, double Bound) ProbePolarFactor(Tensor u, Tensor v)
    {
        using var scope = torch.NewDisposeScope();
        var type = u.dtype == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;
        var q = Probe(u.shape[0], 1.3, 0.2, type, u.device);
        var p = Probe(v.shape[0], 0.7, 0.1, type, v.device);
        var left = u.to(type).t().mv(q).to(ScalarType.Float64);
        var right = v.to(type).t().mv(p).to(ScalarType.Float64);
        var value = (left * right).sum().item<double>();
        var bound = q.to(ScalarType.Float64).norm().item<double>() * p.to(ScalarType.Float64).norm().item<double>() * Math.Sqrt(u.shape[1]);
        return (value, bound);
    }

    // cos(a·i + b): deterministic, dense and of mixed sign, so no weight pattern is invisible to it.
    private static Tensor Probe(long length, double a, double b, ScalarType type, Device device)
    {
        using var stop = length.ToScalar();
        using var slope = a.ToScalar();
        using var offset = b.ToScalar();
        return torch.arange(stop, dtype: ScalarType.Float64, device: device).mul(slope).add(offset, HeldScalars.One).cos().to(type);
    }
}
