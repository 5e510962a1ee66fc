using TorchSharp;
using TorchSharp.Modules;
using VectorFit.Adapters;
using VectorFit.Tests.Models;
using static TorchSharp.torch;

namespace VectorFit.Distributed.Tests;

/// <summary>
/// One training run as the README teaches it — surgery, <c>VectorFit.Optim.AdamW</c>, AVF — with, when given a world, the gradients
/// averaged over the ranks between <c>backward()</c> and <c>optimizer.step()</c>.
/// </summary>
internal sealed class Trainer : IDisposable
{
    /// <param name="sgdMomentum">When set, SGD with this momentum instead of <c>VectorFit.Optim.AdamW</c>.</param>
    public Trainer(TransformerConfigShape shape, long seed, MpiWorld? world, AvfOptions avf, double lr = 1e-2, double? sgdMomentum = null)
    {
        Model = new TinyBert(shape.Config, shape.Classes, seed, ScalarType.Float32);
        Report = ModelSurgery.Apply(Model, new VectorFitConfig { Preset = TargetPreset.Bert, ModulesToSave = ["classifier"] });
        Trainable = Model.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        Optimizer = sgdMomentum is { } momentum
            ? torch.optim.SGD(Trainable.Select(p => p.parameter), lr, momentum: momentum)
            : new VectorFit.Optim.AdamW(Trainable.Select(p => p.parameter), lr: lr);
        Avf = AvfScheduler.FromModel(Model, avf);
        Parallel = world is null ? null : new DataParallel(world, Trainable);
    }

    public TinyBert Model { get; }

    public SurgeryReport Report { get; }

    public List<(string name, Parameter parameter)> Trainable { get; }

    public torch.optim.Optimizer Optimizer { get; }

    public AvfScheduler Avf { get; }

    public DataParallel? Parallel { get; }

    /// <summary>One step on <paramref name="input"/>: the loss is the mean over these rows.</summary>
    public void Step(Tensor input, Tensor labels, Action? beforeAverage = null)
    {
        using var scope = NewDisposeScope();
        Optimizer.zero_grad();
        nn.functional.cross_entropy(Model.forward(input), labels).backward();
        beforeAverage?.Invoke();
        Parallel?.AverageGradients();
        Optimizer.step();
        Avf.step();
    }

    /// <summary>All trainable values, flattened, in float64.</summary>
    public double[] Values()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return cat(Trainable.Select(p => p.parameter.detach().reshape(-1)).ToList(), 0).to_type(ScalarType.Float64).data<double>().ToArray();
    }

    public void Save(string path) => VectorFitAdapter.Save(Model, Report, path, Avf.Options);

    public void Dispose()
    {
        Parallel?.Dispose();
        Optimizer.Dispose();
        Model.Dispose();
    }
}

/// <summary>A model shape and its number of classes.</summary>
internal sealed record TransformerConfigShape(VectorFit.Transformers.Models.TransformerConfig Config, int Classes);
