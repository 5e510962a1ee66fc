using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace VectorFit.Tests.Models;

/// <summary>
/// Small float64 models (4 features in and out) that hold their Linear layers in each way user code does,
/// for the replacement tests. Each is seeded so two instances are copies of one base model.
/// </summary>
internal static class ContainerModels
{
    public const int Features = 4;

    public static Linear NewLinear(long inFeatures = Features, long outFeatures = Features)
        => nn.Linear(inFeatures, outFeatures, dtype: ScalarType.Float64);

    /// <summary>The models of the replacement theory, by name, with the Linear names each holds.</summary>
    public static readonly Dictionary<string, (Func<nn.Module<Tensor, Tensor>> Build, string[] Linears)> ByName = new()
    {
        ["base-typed fields"] = (() => new FieldModel(), new[] { "proj", "gate", "renamed", "inherited" }),
        ["Sequential"] = (() => new SequentialModel(), new[] { "mlp.0", "mlp.2" }),
        ["ModuleList"] = (() => new ModuleListModel(), new[] { "heads.0", "heads.1" }),
        ["ModuleDict"] = (() => new ModuleDictModel(), new[] { "extra.dense", "extra.out" }),
        ["array field"] = (() => new ArrayModel(), new[] { "expert0", "expert1" }),
        ["nested lists"] = (() => new NestedModel(), new[] { "blocks.0.mlp.0", "blocks.0.mlp.2", "blocks.1.mlp.0", "blocks.1.mlp.2" }),
    };

    internal abstract class FieldModelBase : nn.Module<Tensor, Tensor>
    {
        // A private field of a base class: surgery must search the declaring type hierarchy.
        private readonly nn.Module<Tensor, Tensor> inherited;

        protected FieldModelBase(string name) : base(name)
        {
            torch.manual_seed(10);
            inherited = NewLinear();
        }

        protected Tensor Inherited(Tensor x) => inherited.forward(x);
    }

    /// <summary>Fields typed as the base class, as an interface, and renamed with [ComponentName].</summary>
    internal sealed class FieldModel : FieldModelBase
    {
        private readonly nn.Module<Tensor, Tensor> proj;
        private readonly nn.IModule<Tensor, Tensor> gate;
        [ComponentName(Name = "renamed")]
        private readonly nn.Module<Tensor, Tensor> _hidden;

        public FieldModel() : base(nameof(FieldModel))
        {
            torch.manual_seed(11);
            proj = NewLinear();
            gate = NewLinear();
            _hidden = NewLinear();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var a = proj.forward(x);
            using var b = gate.call(a);
            using var c = _hidden.forward(b);
            return Inherited(c);
        }
    }

    internal sealed class SequentialModel : nn.Module<Tensor, Tensor>
    {
        private readonly Sequential mlp;

        public SequentialModel() : base(nameof(SequentialModel))
        {
            torch.manual_seed(12);
            mlp = nn.Sequential(NewLinear(), nn.GELU(), NewLinear());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => mlp.forward(x);
    }

    internal sealed class ModuleListModel : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<nn.Module<Tensor, Tensor>> heads;

        public ModuleListModel() : base(nameof(ModuleListModel))
        {
            torch.manual_seed(13);
            heads = nn.ModuleList<nn.Module<Tensor, Tensor>>(NewLinear(), NewLinear());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            Tensor? h = null;
            foreach (var head in heads)
            {
                var next = head.forward(h ?? x);
                h?.Dispose();
                h = next;
            }

            return h!;
        }
    }

    internal sealed class ModuleDictModel : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleDict<nn.Module<Tensor, Tensor>> extra;

        public ModuleDictModel() : base(nameof(ModuleDictModel))
        {
            torch.manual_seed(14);
            extra = nn.ModuleDict<nn.Module<Tensor, Tensor>>(("dense", NewLinear()), ("out", NewLinear()));
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var h = extra["dense"].forward(x);
            return extra["out"].forward(h);
        }
    }

    /// <summary>Layers in an array field, registered by hand (RegisterComponents skips arrays).</summary>
    internal sealed class ArrayModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor>[] experts;

        public ArrayModel() : base(nameof(ArrayModel))
        {
            torch.manual_seed(15);
            experts = new nn.Module<Tensor, Tensor>[] { NewLinear(), NewLinear() };
            for (var i = 0; i < experts.Length; i++)
            {
                register_module($"expert{i}", experts[i]);
            }
        }

        public override Tensor forward(Tensor x)
        {
            using var a = experts[0].forward(x);
            using var b = experts[1].forward(x);
            return a + b;
        }
    }

    /// <summary>A ModuleList of blocks, each holding a Sequential.</summary>
    internal sealed class NestedModel : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<SequentialModel> blocks;

        public NestedModel() : base(nameof(NestedModel))
        {
            blocks = nn.ModuleList(new SequentialModel(), new SequentialModel());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var a = blocks[0].forward(x);
            return blocks[1].forward(a);
        }
    }

    /// <summary>A layer in a field typed as the sealed Linear: cannot hold a VectorFitLinear.</summary>
    internal sealed class LinearFieldModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> key;
        private readonly Linear query;

        public LinearFieldModel() : base(nameof(LinearFieldModel))
        {
            torch.manual_seed(16);
            key = NewLinear();
            query = NewLinear();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var k = key.forward(x);
            return query.forward(k);
        }
    }

    /// <summary>A ModuleList typed by the sealed Linear.</summary>
    internal sealed class LinearListModel : nn.Module<Tensor, Tensor>
    {
        private readonly ModuleList<Linear> heads;

        public LinearListModel() : base(nameof(LinearListModel))
        {
            heads = nn.ModuleList(NewLinear(), NewLinear());
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => heads[1].forward(heads[0].forward(x));
    }

    /// <summary>A layer registered by name with no field holding it: forward cannot be redirected.</summary>
    internal sealed class UnheldModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> proj;

        public UnheldModel() : base(nameof(UnheldModel))
        {
            proj = NewLinear();
            RegisterComponents();
            register_module("orphan", NewLinear());
        }

        public override Tensor forward(Tensor x) => proj.forward(x);
    }

    /// <summary>A model whose adapted layer sits in a field typed VectorFitLinear: merging cannot put a Linear there.</summary>
    internal sealed class VectorFitFieldModel : nn.Module<Tensor, Tensor>
    {
        private readonly VectorFitLinear adapted;

        public VectorFitFieldModel() : base(nameof(VectorFitFieldModel))
        {
            using var linear = NewLinear();
            adapted = new VectorFitLinear(linear);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x) => adapted.forward(x);
    }

    /// <summary>One Linear registered in two places (tied): surgery must give both the same new layer.</summary>
    internal sealed class SharedModel : nn.Module<Tensor, Tensor>
    {
        private readonly nn.Module<Tensor, Tensor> first;
        private readonly nn.Module<Tensor, Tensor> second;

        public SharedModel() : base(nameof(SharedModel))
        {
            torch.manual_seed(17);
            first = NewLinear();
            second = first;
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var a = first.forward(x);
            return second.forward(a);
        }
    }
}
