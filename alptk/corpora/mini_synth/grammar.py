"""Deterministic English sentences with correct French translations, for the mini_synth corpus.

English is spoken by eSpeak NG and transcribed (ASR); French is the speech-translation target. The grammar is a
small feature grammar: the lexicon comes first (nouns with gender and tags, adjectives with their four French forms
and position, verbs with their five French present forms), then noun-phrase and clause renderers, then one sampler
per sentence template. French is built with plain words ("de le parc", "je aime", "ce arbre") and polished at the
end by :func:`polish_fr`: elision (l' j' m' s' n' d' qu'), mon/son/cet before a vowel, du/des/au/aux.

Each template's derivations give distinct English sentences, and one English sentence always has one French
translation, so :func:`capacity` (a sum over templates of products of choices) is the number of distinct sentences.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

# Nouns: English singular ("dog", or "man|men" where the plural is not regular +s), French likewise, gender, tags.
# The first tag is the category (person animal food drink thing text furniture place vehicle nature); the others say
# what the noun can be: read/write/open/wash/make/throw (object of those verbs), in/on/under/by/site (the object of
# those prepositions: in; on; under, above; near, behind, in front of, next to; opposite, far from), to (a place one
# goes to), out (outdoors), mass (uncountable: "some bread" is "du pain").
NOUNS = (
    ("man|men", "homme", "m", "person"),
    ("woman|women", "femme", "f", "person"),
    ("boy", "garçon", "m", "person"),
    ("girl", "fille", "f", "person"),
    ("child|children", "enfant", "m", "person"),
    ("baby|babies", "bébé", "m", "person wash"),
    ("teacher", "professeur", "m", "person"),
    ("doctor", "médecin", "m", "person"),
    ("student", "étudiant", "m", "person"),
    ("friend", "ami", "m", "person"),
    ("neighbor", "voisin", "m", "person"),
    ("farmer", "fermier", "m", "person"),
    ("baker", "boulanger", "m", "person"),
    ("driver", "chauffeur", "m", "person"),
    ("king", "roi", "m", "person"),
    ("queen", "reine", "f", "person"),
    ("brother", "frère", "m", "person"),
    ("sister", "sœur", "f", "person"),
    ("mother", "mère", "f", "person"),
    ("father", "père", "m", "person"),
    ("uncle", "oncle", "m", "person"),
    ("aunt", "tante", "f", "person"),
    ("nurse", "infirmière", "f", "person"),
    ("artist", "artiste", "m", "person"),
    ("grandmother", "grand-mère|grands-mères", "f", "person"),
    ("grandfather", "grand-père|grands-pères", "m", "person"),
    ("pilot", "pilote", "m", "person"),
    ("singer", "chanteur", "m", "person"),
    ("soldier", "soldat", "m", "person"),
    ("sailor", "marin", "m", "person"),
    ("waiter", "serveur", "m", "person"),
    ("painter", "peintre", "m", "person"),
    ("cousin", "cousin", "m", "person"),
    ("actor", "acteur", "m", "person"),
    ("writer", "écrivain", "m", "person"),
    ("postman|postmen", "facteur", "m", "person"),
    ("fisherman|fishermen", "pêcheur", "m", "person"),
    ("tourist", "touriste", "m", "person"),
    ("dancer", "danseur", "m", "person"),
    ("policeman|policemen", "policier", "m", "person"),
    ("dog", "chien", "m", "animal wash"),
    ("cat", "chat", "m", "animal wash"),
    ("horse", "cheval|chevaux", "m", "animal wash"),
    ("bird", "oiseau|oiseaux", "m", "animal"),
    ("mouse|mice", "souris|souris", "f", "animal"),
    ("cow", "vache", "f", "animal"),
    ("rabbit", "lapin", "m", "animal"),
    ("duck", "canard", "m", "animal"),
    ("fox|foxes", "renard", "m", "animal"),
    ("wolf|wolves", "loup", "m", "animal"),
    ("bear", "ours|ours", "m", "animal"),
    ("pig", "cochon", "m", "animal"),
    ("goat", "chèvre", "f", "animal"),
    ("frog", "grenouille", "f", "animal"),
    ("snake", "serpent", "m", "animal"),
    ("lion", "lion", "m", "animal"),
    ("tiger", "tigre", "m", "animal"),
    ("monkey", "singe", "m", "animal"),
    ("elephant", "éléphant", "m", "animal"),
    ("owl", "hibou|hiboux", "m", "animal"),
    ("turtle", "tortue", "f", "animal"),
    ("hen", "poule", "f", "animal"),
    ("goose|geese", "oie", "f", "animal"),
    ("squirrel", "écureuil", "m", "animal"),
    ("donkey", "âne", "m", "animal"),
    ("bee", "abeille", "f", "animal"),
    ("spider", "araignée", "f", "animal"),
    ("butterfly|butterflies", "papillon", "m", "animal"),
    ("giraffe", "girafe", "f", "animal"),
    ("zebra", "zèbre", "m", "animal"),
    ("camel", "chameau|chameaux", "m", "animal"),
    ("whale", "baleine", "f", "animal"),
    ("dolphin", "dauphin", "m", "animal"),
    ("ant", "fourmi", "f", "animal"),
    ("puppy|puppies", "chiot", "m", "animal"),
    ("kitten", "chaton", "m", "animal"),
    ("eagle", "aigle", "m", "animal"),
    ("parrot", "perroquet", "m", "animal"),
    ("shark", "requin", "m", "animal"),
    ("bat", "chauve-souris|chauves-souris", "f", "animal"),
    ("apple", "pomme", "f", "food fruit wash throw"),
    ("banana", "banane", "f", "food fruit"),
    ("orange", "orange", "f", "food fruit"),
    ("pear", "poire", "f", "food fruit"),
    ("lemon", "citron", "m", "food fruit"),
    ("strawberry|strawberries", "fraise", "f", "food fruit"),
    ("cherry|cherries", "cerise", "f", "food fruit"),
    ("peach|peaches", "pêche", "f", "food fruit"),
    ("melon", "melon", "m", "food fruit"),
    ("pineapple", "ananas|ananas", "m", "food fruit"),
    ("tomato|tomatoes", "tomate", "f", "food wash"),
    ("carrot", "carotte", "f", "food wash"),
    ("potato|potatoes", "pomme de terre|pommes de terre", "f", "food wash"),
    ("onion", "oignon", "m", "food"),
    ("egg", "œuf", "m", "food"),
    ("mushroom", "champignon", "m", "food"),
    ("cake", "gâteau|gâteaux", "m", "food make"),
    ("cookie", "biscuit", "m", "food make"),
    ("sandwich|sandwiches", "sandwich", "m", "food make"),
    ("pie", "tarte", "f", "food make"),
    ("pizza", "pizza", "f", "food make"),
    ("salad", "salade", "f", "food make"),
    ("sausage", "saucisse", "f", "food"),
    ("candy|candies", "bonbon", "m", "food"),
    ("croissant", "croissant", "m", "food"),
    ("bread", "pain", "m", "food mass"),
    ("rice", "riz", "m", "food mass"),
    ("cheese", "fromage", "m", "food mass"),
    ("butter", "beurre", "m", "food mass"),
    ("soup", "soupe", "f", "food mass make"),
    ("jam", "confiture", "f", "food mass"),
    ("meat", "viande", "f", "food mass"),
    ("chocolate", "chocolat", "m", "food mass"),
    ("sugar", "sucre", "m", "food mass"),
    ("honey", "miel", "m", "food mass"),
    ("water", "eau", "f", "drink mass"),
    ("milk", "lait", "m", "drink mass"),
    ("coffee", "café", "m", "drink mass make"),
    ("tea", "thé", "m", "drink mass make"),
    ("juice", "jus", "m", "drink mass"),
    ("lemonade", "limonade", "f", "drink mass make"),
    ("book", "livre", "m", "thing read write open"),
    ("letter", "lettre", "f", "thing read write open"),
    ("newspaper", "journal|journaux", "m", "thing read"),
    ("map", "carte", "f", "thing read"),
    ("pen", "stylo", "m", "thing"),
    ("pencil", "crayon", "m", "thing"),
    ("key", "clé", "f", "thing throw"),
    ("ball", "balle", "f", "thing throw"),
    ("cup", "tasse", "f", "thing wash"),
    ("glass|glasses", "verre", "m", "thing wash"),
    ("bottle", "bouteille", "f", "thing open wash"),
    ("box|boxes", "boîte", "f", "thing open in on under by"),
    ("bag", "sac", "m", "thing open in by"),
    ("basket", "panier", "m", "thing in by"),
    ("hat", "chapeau|chapeaux", "m", "thing"),
    ("plate", "assiette", "f", "thing wash"),
    ("knife|knives", "couteau|couteaux", "m", "thing wash"),
    ("spoon", "cuillère", "f", "thing wash"),
    ("fork", "fourchette", "f", "thing wash"),
    ("phone", "téléphone", "m", "thing"),
    ("umbrella", "parapluie", "m", "thing open"),
    ("shoe", "chaussure", "f", "thing wash"),
    ("coat", "manteau|manteaux", "m", "thing"),
    ("shirt", "chemise", "f", "thing wash"),
    ("dress|dresses", "robe", "f", "thing wash"),
    ("toy", "jouet", "m", "thing"),
    ("doll", "poupée", "f", "thing"),
    ("kite", "cerf-volant|cerfs-volants", "m", "thing make"),
    ("clock", "horloge", "f", "thing"),
    ("ring", "bague", "f", "thing"),
    ("candle", "bougie", "f", "thing"),
    ("mirror", "miroir", "m", "thing wash"),
    ("stone", "pierre", "f", "thing throw"),
    ("stick", "bâton", "m", "thing throw"),
    ("flower", "fleur", "f", "thing"),
    ("leaf|leaves", "feuille", "f", "thing"),
    ("photo", "photo", "f", "thing"),
    ("computer", "ordinateur", "m", "thing"),
    ("ticket", "billet", "m", "thing"),
    ("gift", "cadeau|cadeaux", "m", "thing open"),
    ("wallet", "portefeuille", "m", "thing"),
    ("towel", "serviette", "f", "thing wash"),
    ("pillow", "oreiller", "m", "thing"),
    ("blanket", "couverture", "f", "thing wash"),
    ("envelope", "enveloppe", "f", "thing open"),
    ("story|stories", "histoire", "f", "text read write"),
    ("poem", "poème", "m", "text read write"),
    ("song", "chanson", "f", "text write"),
    ("table", "table", "f", "furniture on under by wash"),
    ("chair", "chaise", "f", "furniture on under by"),
    ("bed", "lit", "m", "furniture on under by make"),
    ("sofa", "canapé", "m", "furniture on under by"),
    ("desk", "bureau|bureaux", "m", "furniture on under by"),
    ("shelf|shelves", "étagère", "f", "furniture on by"),
    ("bench|benches", "banc", "m", "furniture on under by"),
    ("lamp", "lampe", "f", "furniture by"),
    ("door", "porte", "f", "furniture by open"),
    ("window", "fenêtre", "f", "furniture by open wash"),
    ("wall", "mur", "m", "furniture by"),
    ("cupboard", "placard", "m", "furniture in by open"),
    ("fridge", "réfrigérateur", "m", "furniture in by open"),
    ("carpet", "tapis|tapis", "m", "furniture on under wash"),
    ("armchair", "fauteuil", "m", "furniture on by"),
    ("oven", "four", "m", "furniture in by open"),
    ("house", "maison", "f", "place in by site"),
    ("school", "école", "f", "place in by site to"),
    ("kitchen", "cuisine", "f", "place in"),
    ("garden", "jardin", "m", "place in to out"),
    ("park", "parc", "m", "place in by site to out"),
    ("bedroom", "chambre", "f", "place in"),
    ("church|churches", "église", "f", "place in by site to"),
    ("station", "gare", "f", "place in by site to"),
    ("shop", "magasin", "m", "place in by site to open"),
    ("market", "marché", "m", "place in by site to"),
    ("library|libraries", "bibliothèque", "f", "place in by site to"),
    ("hospital", "hôpital|hôpitaux", "m", "place in by site to"),
    ("hotel", "hôtel", "m", "place in by site to"),
    ("museum", "musée", "m", "place in by site to"),
    ("restaurant", "restaurant", "m", "place in by site to"),
    ("beach|beaches", "plage", "f", "place on to"),
    ("farm", "ferme", "f", "place by site to"),
    ("forest", "forêt", "f", "place in to out"),
    ("village", "village", "m", "place in by site to out"),
    ("city|cities", "ville", "f", "place in to out"),
    ("office", "bureau|bureaux", "m", "place in by to"),
    ("zoo", "zoo", "m", "place in by site to"),
    ("bakery|bakeries", "boulangerie", "f", "place in by site to"),
    ("bank", "banque", "f", "place in by site to"),
    ("cinema", "cinéma", "m", "place in by site to"),
    ("airport", "aéroport", "m", "place in by site to"),
    ("factory|factories", "usine", "f", "place in by site to"),
    ("castle", "château|châteaux", "m", "place in by site to"),
    ("street", "rue", "f", "place in out"),
    ("garage", "garage", "m", "place in by"),
    ("supermarket", "supermarché", "m", "place in by site to"),
    ("pharmacy|pharmacies", "pharmacie", "f", "place in by site to"),
    ("theater", "théâtre", "m", "place in by site to"),
    ("stadium", "stade", "m", "place in by site to"),
    ("pool", "piscine", "f", "place in by to"),
    ("bathroom", "salle de bain|salles de bain", "f", "place in"),
    ("car", "voiture", "f", "vehicle in under by wash"),
    ("bus|buses", "bus|bus", "m", "vehicle in by wash"),
    ("train", "train", "m", "vehicle in by"),
    ("boat", "bateau|bateaux", "m", "vehicle in on by"),
    ("bike", "vélo", "m", "vehicle by wash"),
    ("plane", "avion", "m", "vehicle in by"),
    ("truck", "camion", "m", "vehicle in by wash"),
    ("taxi", "taxi", "m", "vehicle in by"),
    ("tractor", "tracteur", "m", "vehicle by"),
    ("motorcycle", "moto", "f", "vehicle by wash"),
    ("helicopter", "hélicoptère", "m", "vehicle in by"),
    ("tree", "arbre", "m", "nature under by"),
    ("river", "rivière", "f", "nature in by"),
    ("lake", "lac", "m", "nature in by to"),
    ("mountain", "montagne", "f", "nature on by to"),
    ("hill", "colline", "f", "nature on by"),
    ("rock", "rocher", "m", "nature on under by"),
    ("bridge", "pont", "m", "nature on under by"),
    ("field", "champ", "m", "nature in by out"),
    ("island", "île", "f", "nature on"),
    ("sea", "mer", "f", "nature in by to"),
)

# Adjectives: English, French ("vert" for a regular adjective, else "m/f/m.pl/f.pl" and for vieux, beau, nouveau a
# fifth form, the masculine singular before a vowel), placed before the noun?, the noun tags it can describe.
ADJECTIVES = (
    ("red", "rouge", False, "thing furniture vehicle house fruit"),
    ("green", "vert", False, "thing furniture vehicle house fruit"),
    ("yellow", "jaune", False, "thing furniture vehicle house fruit"),
    ("blue", "bleu", False, "thing furniture vehicle house"),
    ("black", "noir", False, "thing furniture vehicle animal"),
    ("white", "blanc/blanche/blancs/blanches", False, "thing furniture vehicle house animal"),
    ("brown", "marron/marron/marron/marron", False, "thing furniture animal"),
    ("grey", "gris", False, "thing furniture vehicle animal"),
    ("pink", "rose", False, "thing"),
    ("purple", "violet/violette/violets/violettes", False, "thing"),
    ("big", "grand", True, "person animal thing furniture place vehicle nature"),
    ("small", "petit", True, "person animal food thing furniture place vehicle nature"),
    ("little", "petit", True, "person animal thing"),
    ("tall", "grand", True, "person tree"),
    ("huge", "énorme", False, "animal food thing furniture place vehicle nature"),
    ("tiny", "minuscule", False, "animal food thing"),
    ("old", "vieux/vieille/vieux/vieilles/vieil", True, "person animal thing text furniture place vehicle nature"),
    ("young", "jeune", True, "person animal"),
    ("new", "nouveau/nouvelle/nouveaux/nouvelles/nouvel", True, "person thing text furniture place vehicle"),
    ("beautiful", "beau/belle/beaux/belles/bel", True, "person animal thing text furniture place vehicle nature"),
    ("pretty", "joli", True, "person animal thing place"),
    ("good", "bon/bonne/bons/bonnes", True, "person food drink thing text"),
    ("bad", "mauvais", True, "person food text"),
    ("happy", "heureux/heureuse/heureux/heureuses", False, "person animal"),
    ("sad", "triste", False, "person animal text"),
    ("tired", "fatigué", False, "person animal"),
    ("angry", "en colère/en colère/en colère/en colère", False, "person animal"),
    ("calm", "calme", False, "person animal place"),
    ("kind", "gentil/gentille/gentils/gentilles", False, "person animal"),
    ("clever", "intelligent", False, "person animal"),
    ("funny", "drôle", False, "person animal text"),
    ("shy", "timide", False, "person animal"),
    ("brave", "courageux/courageuse/courageux/courageuses", False, "person animal"),
    ("lazy", "paresseux/paresseuse/paresseux/paresseuses", False, "person animal"),
    ("polite", "poli", False, "person"),
    ("strong", "fort", False, "person animal"),
    ("quiet", "tranquille", False, "person animal place"),
    ("noisy", "bruyant", False, "person animal place vehicle"),
    ("famous", "célèbre", False, "person place text"),
    ("wild", "sauvage", False, "animal"),
    ("dangerous", "dangereux/dangereuse/dangereux/dangereuses", False, "animal place"),
    ("heavy", "lourd", False, "thing furniture"),
    ("clean", "propre", False, "thing furniture place vehicle"),
    ("dirty", "sale", False, "animal thing furniture place vehicle"),
    ("expensive", "cher/chère/chers/chères", False, "food drink thing furniture vehicle"),
    ("fast", "rapide", False, "animal vehicle"),
    ("slow", "lent", False, "animal vehicle"),
    ("broken", "cassé", False, "thing furniture vehicle"),
    ("empty", "vide", False, "box bag basket bottle cup glass cupboard fridge"),
    ("full", "plein", False, "box bag basket bottle cup glass cupboard fridge"),
    ("round", "rond", False, "fruit thing furniture"),
    ("soft", "doux/douce/doux/douces", False, "animal food thing"),
    ("wet", "mouillé", False, "person animal thing"),
    ("dry", "sec/sèche/secs/sèches", False, "food thing"),
    ("modern", "moderne", False, "thing furniture place vehicle"),
    ("fresh", "frais/fraîche/frais/fraîches", False, "food drink"),
    ("sweet", "sucré", False, "food drink"),
    ("hot", "chaud", False, "food drink"),
    ("cold", "froid", False, "food drink"),
    ("ripe", "mûr", False, "fruit"),
    ("delicious", "délicieux/délicieuse/délicieux/délicieuses", False, "food drink"),
    ("salty", "salé", False, "food"),
)

# Verbs: English base and 3rd person singular, French infinitive ("se ..." when reflexive), present forms for
# je/il/nous/vous/ils ("" for a regular -er verb), then for transitive verbs whether it is a deliberate action (after
# "can", "must", "want to", "like to", and as a polite imperative: "please open the door"); then the noun tags of the
# subject and (transitive verbs) of the object.
TRANSITIVE_VERBS = (
    ("eat", "eats", "manger", "", True, "person animal", "food"),
    ("drink", "drinks", "boire", "bois boit buvons buvez boivent", True, "person animal", "drink"),
    (
        "see",
        "sees",
        "voir",
        "vois voit voyons voyez voient",
        False,
        "person animal",
        "person animal food thing furniture place vehicle nature",
    ),
    ("watch", "watches", "regarder", "", True, "person animal", "person animal vehicle nature"),
    ("like", "likes", "aimer", "", False, "person animal", "person animal food drink thing text place vehicle"),
    ("love", "loves", "adorer", "", False, "person", "person animal food drink thing text place vehicle"),
    (
        "want",
        "wants",
        "vouloir",
        "veux veut voulons voulez veulent",
        False,
        "person",
        "animal food drink thing vehicle",
    ),
    (
        "buy",
        "buys",
        "acheter",
        "achète achète achetons achetez achètent",
        True,
        "person",
        "food drink thing furniture vehicle",
    ),
    ("sell", "sells", "vendre", "vends vend vendons vendez vendent", True, "person", "food thing furniture vehicle"),
    ("take", "takes", "prendre", "prends prend prenons prenez prennent", True, "person", "food thing"),
    ("carry", "carries", "porter", "", True, "person", "food thing"),
    ("bring", "brings", "apporter", "", True, "person animal", "food drink thing"),
    ("hold", "holds", "tenir", "tiens tient tenons tenez tiennent", True, "person", "animal thing"),
    ("find", "finds", "trouver", "", True, "person animal", "animal food thing"),
    ("lose", "loses", "perdre", "perds perd perdons perdez perdent", False, "person", "thing"),
    (
        "choose",
        "chooses",
        "choisir",
        "choisis choisit choisissons choisissez choisissent",
        True,
        "person",
        "animal food thing vehicle",
    ),
    ("read", "reads", "lire", "lis lit lisons lisez lisent", True, "person", "read"),
    ("write", "writes", "écrire", "écris écrit écrivons écrivez écrivent", True, "person", "write"),
    ("open", "opens", "ouvrir", "ouvre ouvre ouvrons ouvrez ouvrent", True, "person", "open"),
    ("close", "closes", "fermer", "", True, "person", "open"),
    ("wash", "washes", "laver", "", True, "person", "wash"),
    (
        "clean",
        "cleans",
        "nettoyer",
        "nettoie nettoie nettoyons nettoyez nettoient",
        True,
        "person",
        "furniture place vehicle",
    ),
    ("paint", "paints", "peindre", "peins peint peignons peignez peignent", True, "person", "furniture vehicle"),
    ("draw", "draws", "dessiner", "", True, "person", "person animal thing furniture place vehicle nature"),
    ("make", "makes", "faire", "fais fait faisons faites font", True, "person", "make"),
    ("cut", "cuts", "couper", "", True, "person", "food"),
    ("throw", "throws", "lancer", "", True, "person", "throw"),
    ("catch", "catches", "attraper", "", True, "person animal", "animal throw"),
    (
        "hear",
        "hears",
        "entendre",
        "entends entend entendons entendez entendent",
        False,
        "person animal",
        "person animal vehicle",
    ),
    ("help", "helps", "aider", "", True, "person", "person animal"),
    ("call", "calls", "appeler", "appelle appelle appelons appelez appellent", True, "person", "person animal"),
    ("follow", "follows", "suivre", "suis suit suivons suivez suivent", True, "person animal", "person animal vehicle"),
    (
        "chase",
        "chases",
        "poursuivre",
        "poursuis poursuit poursuivons poursuivez poursuivent",
        False,
        "person animal",
        "person animal",
    ),
    (
        "feed",
        "feeds",
        "nourrir",
        "nourris nourrit nourrissons nourrissez nourrissent",
        True,
        "person",
        "animal baby child",
    ),
    ("visit", "visits", "visiter", "", True, "person", "site"),
    (
        "know",
        "knows",
        "connaître",
        "connais connaît connaissons connaissez connaissent",
        False,
        "person",
        "person place",
    ),
    ("meet", "meets", "rencontrer", "", False, "person", "person"),
)
INTRANSITIVE_VERBS = (
    ("sleep", "sleeps", "dormir", "dors dort dormons dormez dorment", "person animal"),
    ("run", "runs", "courir", "cours court courons courez courent", "person animal"),
    ("walk", "walks", "marcher", "", "person animal"),
    ("swim", "swims", "nager", "", "person animal"),
    ("sing", "sings", "chanter", "", "person animal"),
    ("dance", "dances", "danser", "", "person"),
    ("play", "plays", "jouer", "", "person animal"),
    ("work", "works", "travailler", "", "person"),
    ("wait", "waits", "attendre", "attends attend attendons attendez attendent", "person animal"),
    ("jump", "jumps", "sauter", "", "person animal"),
    ("laugh", "laughs", "rire", "ris rit rions riez rient", "person"),
    ("cry", "cries", "pleurer", "", "person"),
    ("smile", "smiles", "sourire", "souris sourit sourions souriez sourient", "person"),
    ("eat", "eats", "manger", "", "person animal"),
    ("read", "reads", "lire", "lis lit lisons lisez lisent", "person"),
    ("write", "writes", "écrire", "écris écrit écrivons écrivez écrivent", "person"),
    ("draw", "draws", "dessiner", "", "person"),
    ("study", "studies", "étudier", "", "person"),
    ("listen", "listens", "écouter", "", "person animal"),
    ("cook", "cooks", "cuisiner", "", "person"),
    ("travel", "travels", "voyager", "", "person"),
    ("shout", "shouts", "crier", "", "person"),
    ("hide", "hides", "se cacher", "", "person animal"),
    ("rest", "rests", "se reposer", "", "person animal"),
    ("have fun", "has fun", "se amuser", "", "person"),
    ("wake up", "wakes up", "se réveiller", "", "person animal"),
    ("get dressed", "gets dressed", "se habiller", "", "person"),
    ("sit", "sits", "se asseoir", "assieds assied asseyons asseyez asseyent", "person animal"),
)
# Verbs followed by an infinitive: "she can swim" is "elle peut nager".
MODALS = (
    ("can", "can", "pouvoir", "peux peut pouvons pouvez peuvent"),
    ("must", "must", "devoir", "dois doit devons devez doivent"),
    ("want to", "wants to", "vouloir", "veux veut voulons voulez veulent"),
    ("like to", "likes to", "aimer", ""),
)

# Subject pronouns: English, French, person index (0 je, 1 il/elle, 2 nous, 3 vous, 4 ils/elles), feminine.
# "you" is always "vous" and "they" always "ils", so one English sentence has one translation.
PRONOUNS = (
    ("i", "je", 0, False),
    ("you", "vous", 3, False),
    ("he", "il", 1, False),
    ("she", "elle", 1, True),
    ("we", "nous", 2, False),
    ("they", "ils", 4, False),
)
REFLEXIVE = ("me", "se", "nous", "vous", "se")  # by person index
BE = ("am", "is", "are", "are", "are")  # English "be" by person index; French être is in FRENCH_BE
FRENCH_BE = ("suis", "est", "sommes", "êtes", "sont")
POSSESSIVES = {
    "my": ("mon", "ma", "mes"),
    "your": ("votre", "votre", "vos"),
    "his": ("son", "sa", "ses"),
    "her": ("son", "sa", "ses"),
    "our": ("notre", "notre", "nos"),
    "their": ("leur", "leur", "leurs"),
}

# Prepositions: English, French (de-prepositions contract: "près de le parc" is "près du parc"), noun tag needed.
PREPOSITIONS = (
    ("in", "dans", "in"),
    ("on", "sur", "on"),
    ("under", "sous", "under"),
    ("above", "au-dessus de", "under"),
    ("near", "près de", "by"),
    ("behind", "derrière", "by"),
    ("in front of", "devant", "by"),
    ("next to", "à côté de", "by"),
    ("opposite", "en face de", "site"),
    ("far from", "loin de", "site"),
)
TIMES = (
    ("today", "aujourd'hui"),
    ("tomorrow", "demain"),
    ("now", "maintenant"),
    ("every day", "tous les jours"),
    ("every morning", "tous les matins"),
    ("every evening", "tous les soirs"),
    ("every night", "toutes les nuits"),
    ("every week", "chaque semaine"),
    ("every year", "chaque année"),
    ("in the morning", "le matin"),
    ("in the afternoon", "l'après-midi"),
    ("in the evening", "le soir"),
    ("at night", "la nuit"),
    ("at noon", "à midi"),
    ("at midnight", "à minuit"),
    ("this morning", "ce matin"),
    ("this evening", "ce soir"),
    ("after school", "après l'école"),
    ("after lunch", "après le déjeuner"),
    ("before dinner", "avant le dîner"),
    ("in spring", "au printemps"),
    ("in summer", "en été"),
    ("in autumn", "en automne"),
    ("in winter", "en hiver"),
    ("on monday", "lundi"),
    ("on tuesday", "mardi"),
    ("on wednesday", "mercredi"),
    ("on thursday", "jeudi"),
    ("on friday", "vendredi"),
    ("on saturday", "samedi"),
    ("on sunday", "dimanche"),
)
# Things one plays ("jouer à" a game, "jouer de" an instrument).
GAMES = (
    ("football", "à le football"),
    ("tennis", "à le tennis"),
    ("basketball", "à le basket"),
    ("golf", "à le golf"),
    ("chess", "à les échecs"),
    ("cards", "à les cartes"),
    ("video games", "à les jeux vidéo"),
    ("hide and seek", "à cache-cache"),
    ("the piano", "de le piano"),
    ("the guitar", "de la guitare"),
    ("the violin", "de le violon"),
    ("the drums", "de la batterie"),
    ("the flute", "de la flûte"),
    ("the trumpet", "de la trompette"),
)
WEATHER = (
    ("it is cold", "il fait froid"),
    ("it is hot", "il fait chaud"),
    ("it is nice", "il fait beau"),
    ("it is dark", "il fait sombre"),
    ("it is raining", "il pleut"),
    ("it is snowing", "il neige"),
    ("it is sunny", "il y a du soleil"),
    ("it is windy", "il y a du vent"),
    ("it is foggy", "il y a du brouillard"),
)
# Comparatives: English, the adjective whose French forms and noun tags they use ("plus grand que").
COMPARATIVES = (
    ("bigger", "big"),
    ("smaller", "small"),
    ("taller", "tall"),
    ("older", "old"),
    ("younger", "young"),
    ("faster", "fast"),
    ("slower", "slow"),
    ("stronger", "strong"),
    ("heavier", "heavy"),
    ("happier", "happy"),
)
ARITHMETIC = (("plus", "plus"), ("minus", "moins"), ("times", "fois"))

EN_NUMBERS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
EN_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
FR_NUMBERS = (
    "zéro",
    "un",
    "deux",
    "trois",
    "quatre",
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "treize",
    "quatorze",
    "quinze",
    "seize",
)
FR_TENS = ("vingt", "trente", "quarante", "cinquante", "soixante")
NUMBER_RANGE = range(2, 100)  # numbers before plural nouns ("three dogs")

# French words starting with a mute h (elided: "l'homme", "s'habiller"); other h words are aspirated ("le hibou").
MUTE_H = frozenset(
    {
        "homme",
        "hommes",
        "hôpital",
        "hôpitaux",
        "hôtel",
        "hôtels",
        "histoire",
        "histoires",
        "horloge",
        "horloges",
        "hélicoptère",
        "hélicoptères",
        "habiller",
        "habille",
        "habillons",
        "habillez",
        "habillent",
        "heureux",
        "heureuse",
        "heureuses",
    }
)
FRENCH_VOWELS = "aeiouyàâäéèêëîïôöùûüœ"
# Words that elide or change before a vowel sound, and article contractions.
ELISIONS = {
    "le": "l'",
    "la": "l'",
    "je": "j'",
    "me": "m'",
    "se": "s'",
    "ne": "n'",
    "de": "d'",
    "que": "qu'",
    "ma": "mon",
    "sa": "son",
    "ce": "cet",
}
CONTRACTIONS = {("de", "le"): "du", ("de", "les"): "des", ("à", "le"): "au", ("à", "les"): "aux"}

# Fixed English words of the templates below (all other words come from the tables above).
TEMPLATE_WORDS = (
    "the",
    "a",
    "an",
    "some",
    "any",
    "this",
    "these",
    "no",
    "how",
    "many",
    "there",
    "is",
    "are",
    "am",
    "do",
    "does",
    "not",
    "where",
    "what",
    "who",
    "please",
    "with",
    "to",
    "than",
    "very",
    "year",
    "years",
    "old",
    "equals",
)

# Determiners by noun-phrase role: for singular, plural and mass nouns. "num" is a number from NUMBER_RANGE.
ROLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "subject": (("the", "a", *POSSESSIVES, "this"), ("the", *POSSESSIVES, "this", "num"), ()),
    "object": (
        ("the", "a", *POSSESSIVES, "this"),
        ("the", "some", *POSSESSIVES, "this", "num"),
        ("the", "some", *POSSESSIVES, "this"),
    ),
    "definite": (("the", *POSSESSIVES, "this"), ("the", *POSSESSIVES, "this"), ("the", *POSSESSIVES, "this")),
    "exist": (("a",), ("some", "num"), ("some",)),
    "no": (("no",), ("no",), ("no",)),
    "howmany": ((), ("howmany",), ()),
    "place": (("the", "a", *POSSESSIVES, "this"), ("the", *POSSESSIVES, "this"), ()),
    "dest": (("the",), (), ()),
}


@dataclass(frozen=True)
class Sentence:
    """An English sentence and its French translation."""

    en: str  # lowercase English words separated by single spaces, numbers spelled out
    fr: str  # lowercase French, elided and contracted, no final punctuation


@dataclass(frozen=True)
class Noun:
    en: str
    en_pl: str
    fr: str
    fr_pl: str
    fem: bool
    category: str
    tags: frozenset[str]  # category, other tags and the English singular itself


@dataclass(frozen=True)
class Adjective:
    en: str
    forms: tuple[str, str, str, str]  # m, f, m.pl, f.pl
    vowel_form: str  # masculine singular before a vowel ("vieil"), or ""
    before: bool
    tags: frozenset[str]


@dataclass(frozen=True)
class Verb:
    en: str
    en3: str
    fr: str  # infinitive, without "se"
    forms: tuple[str, ...]  # je, il, nous, vous, ils
    reflexive: bool
    subjects: str  # noun tags
    objects: str = ""
    action: bool = False


class Phrase(NamedTuple):
    """A rendered noun phrase (or pronoun) with what the verb and adjectives agree with."""

    en: str
    fr: str
    person: int  # 0 je, 1 il/elle, 2 nous, 3 vous, 4 ils/elles
    fem: bool


Part = tuple[str, str]  # (English, French) text


def _two_forms(text: str) -> tuple[str, str]:
    """'man|men' -> ('man', 'men'); a regular word takes an s."""
    singular, _, plural = text.partition("|")
    return singular, plural or singular + "s"


def _noun(en: str, fr: str, gender: str, tags: str) -> Noun:
    """A NOUNS entry as a Noun."""
    en_sg, en_pl = _two_forms(en)
    fr_sg, fr_pl = _two_forms(fr)
    return Noun(en_sg, en_pl, fr_sg, fr_pl, gender == "f", tags.split()[0], frozenset([*tags.split(), en_sg]))


def _adjective(en: str, fr: str, before: bool, tags: str) -> Adjective:
    """An ADJECTIVES entry as an Adjective."""
    forms = fr.split("/")
    if len(forms) == 1:  # regular: vert verte verts vertes
        m = forms[0]
        f = m if m.endswith("e") else m + "e"
        forms = [m, f, m if m.endswith(("s", "x")) else m + "s", f + "s"]
    return Adjective(
        en,
        (forms[0], forms[1], forms[2], forms[3]),
        forms[4] if len(forms) > 4 else "",
        before,
        frozenset(tags.split()),
    )


def _verb(en: str, en3: str, fr: str, forms: str, subjects: str, objects: str = "", action: bool = False) -> Verb:
    """A verb entry as a Verb (regular -er forms filled in)."""
    reflexive = fr.startswith("se ")
    infinitive = fr.removeprefix("se ")
    if not forms:  # regular -er verb: mange mange mangeons mangez mangent, lance lançons
        stem = infinitive[:-2]
        nous = stem + "e" if stem.endswith("g") else stem[:-1] + "ç" if stem.endswith("c") else stem
        forms = f"{stem}e {stem}e {nous}ons {stem}ez {stem}ent"
    return Verb(en, en3, infinitive, tuple(forms.split()), reflexive, subjects, objects, action)


LEXICON_NOUNS = tuple(_noun(*entry) for entry in NOUNS)
LEXICON_ADJECTIVES = tuple(_adjective(*entry) for entry in ADJECTIVES)
TRANSITIVE = tuple(
    _verb(en, en3, fr, forms, subjects, objects, action)
    for en, en3, fr, forms, action, subjects, objects in TRANSITIVE_VERBS
)
INTRANSITIVE = tuple(_verb(*entry) for entry in INTRANSITIVE_VERBS)
MODAL_VERBS = tuple(_verb(*entry, subjects="") for entry in MODALS)
HAVE = _verb("have", "has", "avoir", "ai a avons avez ont", "person")
GO = _verb("go", "goes", "aller", "vais va allons allez vont", "person")
PLAY = next(verb for verb in INTRANSITIVE if verb.en == "play")
ACTIONS = tuple(verb for verb in TRANSITIVE if verb.action)
SUBJECT_PRONOUNS = tuple(Phrase(*pronoun) for pronoun in PRONOUNS)
THIRD_PERSON_PRONOUNS = tuple(p for p in SUBJECT_PRONOUNS if p.en in ("he", "she", "they"))
ADJECTIVE_BY_EN = {adjective.en: adjective for adjective in LEXICON_ADJECTIVES}


# ----------------------------------------------------------------------------------------------------------- numbers
def number_en(n: int) -> str:
    """English number words for 0-99: 'twenty three'."""
    if n < 20:
        return EN_NUMBERS[n]
    tens, units = divmod(n, 10)
    return EN_TENS[tens - 2] + (f" {EN_NUMBERS[units]}" if units else "")


def number_fr(n: int, feminine: bool = False) -> str:
    """French number for 0-99: 'vingt et un', 'soixante et onze', 'quatre-vingts'; 'une' forms when feminine."""
    if n < 17:
        words = FR_NUMBERS[n]
    elif n < 20:
        words = f"dix-{FR_NUMBERS[n - 10]}"
    else:
        tens, units = divmod(n, 10)
        if tens in (7, 9):  # soixante-dix..., quatre-vingt-dix...
            tens, units = tens - 1, units + 10
        base = FR_TENS[tens - 2] if tens < 8 else "quatre-vingt"
        if units == 0:
            words = base + ("s" if tens == 8 else "")
        elif units in (1, 11) and tens < 8:
            words = f"{base} et {number_fr(units)}"
        else:
            words = f"{base}-{number_fr(units)}"
    if feminine and (words == "un" or words.endswith((" un", "-un"))):
        words += "e"
    return words


TIME_PHRASES = TIMES + tuple(
    (f"at {number_en(hour)}", f"à {number_fr(hour, feminine=True)} {'heure' if hour == 1 else 'heures'}")
    for hour in range(1, 12)
)


# ------------------------------------------------------------------------------------------------ spelling rules
def _vowel_sound(word: str) -> bool:
    """Whether a French word starts with a vowel sound (onze and aspirated h do not elide: 'le onze', 'le hibou')."""
    return word in MUTE_H or (word[0] in FRENCH_VOWELS and word != "onze")


def polish_fr(text: str) -> str:
    """Elide and contract plain French words: 'je aime le arbre près de le parc' -> "j'aime l'arbre près du parc"."""
    words = text.split()
    for i in range(len(words) - 1):
        if words[i] in ELISIONS and _vowel_sound(words[i + 1]):
            words[i] = ELISIONS[words[i]]
    out: list[str] = []
    for word in words:
        if out and (out[-1], word) in CONTRACTIONS:
            out[-1] = CONTRACTIONS[out[-1], word]
        else:
            out.append(word)
    return " ".join(out).replace("' ", "'")


def polish_en(text: str) -> str:
    """Single spaces, and 'an' before a vowel: 'a old man' -> 'an old man'."""
    words = text.split()
    for i in range(len(words) - 1):
        if words[i] == "a" and words[i + 1][0] in "aeiou":
            words[i] = "an"
    return " ".join(words)


# ------------------------------------------------------------------------------------------- phrases and clauses
def _determiner(det: str, noun: Noun, plural: bool, number: int, negative: bool) -> Part:
    """English and French determiner; after a negation the indefinite 'un/une/des/du' becomes 'de'."""
    fem = noun.fem
    if det == "the":
        return "the", "les" if plural else "la" if fem else "le"
    if det == "a":
        return "a", "de" if negative else "une" if fem else "un"
    if det == "some":
        return ("any", "de") if negative else ("some", "des" if plural else "de la" if fem else "de le")
    if det == "this":
        return ("these", "ces") if plural else ("this", "cette" if fem else "ce")
    if det == "num":
        return number_en(number), number_fr(number, fem)
    if det == "no":
        return "no", "de"
    if det == "howmany":
        return "how many", "combien de"
    masculine, feminine, plural_form = POSSESSIVES[det]
    return det, plural_form if plural else feminine if fem else masculine


def noun_phrase(
    noun: Noun,
    det: str,
    plural: bool = False,
    adjective: Adjective | None = None,
    number: int = 0,
    negative: bool = False,
) -> Phrase:
    """A noun phrase in both languages (French unpolished: 'le arbre' until :func:`polish_fr`)."""
    en_noun, fr_noun = (noun.en_pl, noun.fr_pl) if plural else (noun.en, noun.fr)
    en_det, fr_det = _determiner(det, noun, plural, number, negative)
    if adjective is None:
        en, fr = f"{en_det} {en_noun}", f"{fr_det} {fr_noun}"
    else:
        en = f"{en_det} {adjective.en} {en_noun}"
        form = adjective.forms[2 * plural + noun.fem]
        if not adjective.before:
            fr = f"{fr_det} {fr_noun} {form}"
        else:
            if adjective.vowel_form and not plural and not noun.fem and _vowel_sound(fr_noun):
                form = adjective.vowel_form  # un vieil homme, un bel arbre
            fr = f"{'de' if fr_det == 'des' else fr_det} {form} {fr_noun}"  # de grands arbres
    return Phrase(en, fr, 4 if plural else 1, noun.fem)


def clause(subject: Phrase, verb: Verb, negative: bool = False) -> Part:
    """Subject and conjugated verb: 'the dog does not like' / 'le chien ne aime pas'."""
    person = subject.person
    reflexive = REFLEXIVE[person] if verb.reflexive else ""
    if negative:
        return (
            f"{subject.en} {'does' if person == 1 else 'do'} not {verb.en}",
            f"{subject.fr} ne {reflexive} {verb.forms[person]} pas",
        )
    return f"{subject.en} {verb.en3 if person == 1 else verb.en}", f"{subject.fr} {reflexive} {verb.forms[person]}"


def _question(subject: Phrase, verb: Verb) -> Part:
    """'does the dog eat' / 'est-ce que le chien mange'."""
    return (
        f"{'does' if subject.person == 1 else 'do'} {subject.en} {verb.en}",
        f"est-ce que {clause(subject, verb)[1]}",
    )


def _infinitive(verb: Verb, person: int) -> Part:
    """'hide' / 'se cacher', with the reflexive pronoun of the subject: 'je veux me cacher'."""
    return verb.en, f"{REFLEXIVE[person]} {verb.fr}" if verb.reflexive else verb.fr


def _be(subject: Phrase) -> Part:
    """'the dogs are' / 'les chiens sont'."""
    return f"{subject.en} {BE[subject.person]}", f"{subject.fr} {FRENCH_BE[subject.person]}"


def _predicate(adjective: Adjective, subject: Phrase) -> str:
    """French predicative adjective agreeing with the subject ('vieille', never 'vieil')."""
    return adjective.forms[2 * (subject.person >= 2) + subject.fem]


def _join(*parts: Part | None) -> Part:
    """Parts one after another, leaving out the missing (None) ones."""
    present = [part for part in parts if part]
    return " ".join(part[0] for part in present), " ".join(part[1] for part in present)


# --------------------------------------------------------------------------------------------- choices and counts
@cache
def _nouns(tags: str, role: str) -> tuple[Noun, ...]:
    """Nouns with one of the tags that the role has determiners for."""
    wanted = set(tags.split())
    singular, plural, mass = ROLES[role]
    return tuple(
        noun for noun in LEXICON_NOUNS if noun.tags & wanted and (mass if "mass" in noun.tags else singular or plural)
    )


@cache
def _adjectives(noun: Noun) -> tuple[Adjective, ...]:
    """Adjectives that can describe the noun."""
    return tuple(adjective for adjective in LEXICON_ADJECTIVES if adjective.tags & noun.tags)


def _determiner_count(noun: Noun, role: str) -> int:
    """Number of determiners (each number counting as one) the noun can take in the role."""
    singular, plural, mass = ROLES[role]
    if "mass" in noun.tags:
        return len(mass)
    return len(singular) + len(plural) + ("num" in plural) * (len(NUMBER_RANGE) - 1)


@cache
def _np_count(tags: str, role: str, adjectives: bool = True) -> int:
    """Number of distinct noun phrases _np would give for these nouns."""
    return sum(
        _determiner_count(noun, role) * (1 + (len(_adjectives(noun)) if adjectives else 0))
        for noun in _nouns(tags, role)
    )


def _np(rng: random.Random, noun: Noun, role: str, adjectives: bool = True, negative: bool = False) -> Phrase:
    """A random noun phrase for the noun: a determiner of the role, maybe a number, maybe an adjective."""
    singular, plural_dets, mass = ROLES[role]
    if "mass" in noun.tags:
        plural, dets = False, mass
    else:
        plural = bool(plural_dets) and (not singular or rng.random() < 0.35)
        dets = plural_dets if plural else singular
    det = "the" if "the" in dets and rng.random() < 0.4 else rng.choice(dets)
    number = (rng.randint(2, 12) if rng.random() < 0.6 else rng.choice(NUMBER_RANGE)) if det == "num" else 0
    choices = _adjectives(noun) if adjectives else ()
    adjective = rng.choice(choices) if choices and rng.random() < 0.45 else None
    return noun_phrase(noun, det, plural, adjective, number, negative)


def _random_np(rng: random.Random, tags: str, role: str, adjectives: bool = True, negative: bool = False) -> Phrase:
    """A random noun phrase for a random noun with one of the tags."""
    return _np(rng, rng.choice(_nouns(tags, role)), role, adjectives, negative)


def _subject_pronouns(tags: str) -> tuple[Phrase, ...]:
    """Pronouns can be the subject where people can."""
    return SUBJECT_PRONOUNS if "person" in tags.split() else ()


def _subject(rng: random.Random, tags: str, adjectives: bool = True) -> Phrase:
    """A subject: a pronoun (for people) or a noun phrase."""
    pronouns = _subject_pronouns(tags)
    if pronouns and rng.random() < 0.3:
        return rng.choice(pronouns)
    return _random_np(rng, tags, "subject", adjectives)


def _subject_count(tags: str, adjectives: bool = True) -> int:
    """Number of distinct subjects _subject would give."""
    return len(_subject_pronouns(tags)) + _np_count(tags, "subject", adjectives)


def _prepositional(rng: random.Random) -> Part:
    """'under the table' / 'sous la table'."""
    en, fr, tag = rng.choice(PREPOSITIONS)
    place = _random_np(rng, tag, "place", adjectives=False)
    return f"{en} {place.en}", f"{fr} {place.fr}"


def _companion(rng: random.Random) -> Part:
    """'with my friends' / 'avec mes amis'."""
    other = _random_np(rng, "person animal", "place")
    return f"with {other.en}", f"avec {other.fr}"


def _extra(rng: random.Random, kinds: str, required: bool = False) -> Part | None:
    """Optionally (or surely) one of: p a prepositional phrase, w a companion, t a time adverbial."""
    if not required and rng.random() < 0.25:
        return None
    kind = rng.choice(kinds)
    if kind == "p":
        return _prepositional(rng)
    if kind == "w":
        return _companion(rng)
    return rng.choice(TIME_PHRASES)


@cache
def _extra_count(kinds: str, required: bool = False) -> int:
    """Number of distinct results of _extra (None counting as one when it is allowed)."""
    counts = {
        "p": sum(_np_count(tag, "place", adjectives=False) for _, _, tag in PREPOSITIONS),
        "w": _np_count("person animal", "place"),
        "t": len(TIME_PHRASES),
    }
    return (0 if required else 1) + sum(counts[kind] for kind in kinds)


def _pairs(verbs: tuple[Verb, ...]) -> int:
    """Number of distinct (subject, object) choices for transitive verbs."""
    return sum(_subject_count(verb.subjects) * _np_count(verb.objects, "object") for verb in verbs)


def _intransitive_subjects() -> int:
    """Number of distinct (subject, intransitive verb) choices."""
    return sum(_subject_count(verb.subjects) for verb in INTRANSITIVE)


# ------------------------------------------------------------------------------------------------------ templates
LOCATED = "person animal food thing vehicle"  # what can be somewhere
EXISTING = "person animal food drink thing"  # what "there is"
DESCRIBED = "person animal food thing text furniture place vehicle nature"  # subjects of "is big"
OWNED = "animal food drink thing"


def _transitive(rng: random.Random) -> Part:
    """'the little dog eats a red apple under the table' / 'le petit chien mange une pomme rouge sous la table'."""
    verb = rng.choice(TRANSITIVE)
    subject = _subject(rng, verb.subjects)
    start = _join(clause(subject, verb), _random_np(rng, verb.objects, "object"))
    if subject in SUBJECT_PRONOUNS:  # a one-word subject leaves room for both a place and a time
        return _join(start, _extra(rng, "pw"), _extra(rng, "t"))
    return _join(start, _extra(rng, "pwt"))


def _transitive_count() -> int:
    """Number of distinct sentences _transitive gives."""
    both = _extra_count("pw") * _extra_count("t")
    return sum(
        _np_count(verb.objects, "object")
        * (len(_subject_pronouns(verb.subjects)) * both + _np_count(verb.subjects, "subject") * _extra_count("pwt"))
        for verb in TRANSITIVE
    )


def _intransitive(rng: random.Random) -> Part:
    """'the children have fun in the park every day' / 'les enfants s'amusent dans le parc tous les jours'."""
    verb = rng.choice(INTRANSITIVE)
    subject = _subject(rng, verb.subjects)
    return _join(clause(subject, verb), _extra(rng, "pw", required=True), _extra(rng, "t"))


def _negation(rng: random.Random) -> Part:
    """'the dog does not eat any apples' / 'le chien ne mange pas de pommes'."""
    if rng.random() < 0.6:
        verb = rng.choice(TRANSITIVE)
        subject = _subject(rng, verb.subjects)
        return _join(
            clause(subject, verb, negative=True),
            _random_np(rng, verb.objects, "object", negative=True),
            _extra(rng, "t"),
        )
    verb = rng.choice(INTRANSITIVE)
    return _join(clause(_subject(rng, verb.subjects), verb, negative=True), _extra(rng, "pt"))


def _there_is(rng: random.Random) -> Part:
    """'there are twelve green apples on the table' / 'il y a douze pommes vertes sur la table'."""
    thing = _random_np(rng, EXISTING, "exist")
    there = "there are" if thing.person == 4 else "there is"
    return _join((there, "il y a"), thing, _prepositional(rng), _extra(rng, "t"))


def _there_is_no(rng: random.Random) -> Part:
    """'there is no bread on the table' / 'il n'y a pas de pain sur la table'."""
    thing = _random_np(rng, EXISTING, "no")
    there = "there are" if thing.person == 4 else "there is"
    return _join((there, "il ne y a pas"), thing, _prepositional(rng))


def _where(rng: random.Random) -> Part:
    """'where is the red car' / 'où est la voiture rouge'."""
    thing = _random_np(rng, "person animal food drink thing text vehicle", "definite")
    return _join(("where are", "où sont") if thing.person == 4 else ("where is", "où est"), thing)


def _yes_no(rng: random.Random) -> Part:
    """'does the cat like the milk' / 'est-ce que le chat aime le lait'."""
    if rng.random() < 0.6:
        verb = rng.choice(TRANSITIVE)
        question = _question(_subject(rng, verb.subjects), verb)
        return _join(question, _random_np(rng, verb.objects, "object"), _extra(rng, "t"))
    verb = rng.choice(INTRANSITIVE)
    return _join(_question(_subject(rng, verb.subjects), verb), _extra(rng, "pt", required=True))


def _what(rng: random.Random) -> Part:
    """'what does the boy eat' / 'qu'est-ce que le garçon mange'."""
    verb = rng.choice(TRANSITIVE)
    en, fr = _question(_subject(rng, verb.subjects), verb)
    return _join((f"what {en}", f"qu'est-ce {fr.removeprefix('est-ce ')}"), _extra(rng, "t"))


def _how_many(rng: random.Random) -> Part:
    """'how many old men are there in the kitchen' / 'combien de vieux hommes y a-t-il dans la cuisine'."""
    return _join(_random_np(rng, EXISTING, "howmany"), ("are there", "y a-t-il"), _prepositional(rng))


def _who(rng: random.Random) -> Part:
    """'who reads the newspaper' / 'qui lit le journal'."""
    verb = rng.choice(TRANSITIVE)
    return _join(
        (f"who {verb.en3}", f"qui {verb.forms[1]}"), _random_np(rng, verb.objects, "object"), _extra(rng, "pt")
    )


def _be_located(rng: random.Random) -> Part:
    """'the cat is under the bed' / 'le chat est sous le lit'."""
    return _join(_be(_subject(rng, LOCATED)), _prepositional(rng), _extra(rng, "t"))


@cache
def _person_adjectives() -> tuple[Adjective, ...]:
    """Adjectives that can describe people (and so he, she, they)."""
    return tuple(adjective for adjective in LEXICON_ADJECTIVES if "person" in adjective.tags)


def _be_adjective(rng: random.Random) -> Part:
    """'the houses are very beautiful' / 'les maisons sont très belles'."""
    if rng.random() < 0.2:  # "she is very tired": a pronoun always takes "very" (four words at least)
        subject, choices, very = rng.choice(THIRD_PERSON_PRONOUNS), _person_adjectives(), True
    else:
        noun = rng.choice(_nouns(DESCRIBED, "subject"))
        subject, choices, very = _np(rng, noun, "subject", adjectives=False), _adjectives(noun), rng.random() < 0.3
    adjective = rng.choice(choices)
    degree = ("very", "très") if very else None
    return _join(_be(subject), degree, (adjective.en, _predicate(adjective, subject)), _extra(rng, "t"))


def _age(rng: random.Random) -> Part:
    """'the old man is seventy one years old' / 'le vieil homme a soixante et onze ans'."""
    subject = _subject(rng, "person animal")
    age = rng.randint(1, 99)
    years = ("year", "an") if age == 1 else ("years", "ans")
    return (
        f"{subject.en} {BE[subject.person]} {number_en(age)} {years[0]} old",
        f"{subject.fr} {HAVE.forms[subject.person]} {number_fr(age)} {years[1]}",
    )


def _comparison(rng: random.Random) -> Part:
    """'the dog is bigger than the cat' / 'le chien est plus grand que le chat'."""
    en, base = rng.choice(COMPARATIVES)
    adjective = ADJECTIVE_BY_EN[base]
    pronouns = THIRD_PERSON_PRONOUNS if "person" in adjective.tags else ()
    tags = " ".join(sorted(adjective.tags))
    if pronouns and rng.random() < 0.2:
        subject, category = rng.choice(pronouns), "person"
    else:
        noun = rng.choice(_nouns(tags, "subject"))
        subject, category = _np(rng, noun, "subject", adjectives=False), noun.category
    other = _random_np(rng, category, "subject", adjectives=False)
    return _join(_be(subject), (f"{en} than", f"plus {_predicate(adjective, subject)} que"), other)


def _have(rng: random.Random) -> Part:
    """'i have thirty one books' / 'j'ai trente et un livres'."""
    subject = _subject(rng, "person")
    return _join(clause(subject, HAVE), _random_np(rng, OWNED, "exist"), _extra(rng, "t"))


def _go(rng: random.Random) -> Part:
    """'we go to the hospital with my friend' / 'nous allons à l'hôpital avec mon ami'."""
    subject = _subject(rng, "person")
    place = _random_np(rng, "to", "dest")
    return _join(clause(subject, GO), (f"to {place.en}", f"à {place.fr}"), _extra(rng, "wt"))


def _play(rng: random.Random) -> Part:
    """'the children play chess after school' / 'les enfants jouent aux échecs après l'école'."""
    subject = _subject(rng, "person")
    return _join(clause(subject, PLAY), rng.choice(GAMES), _extra(rng, "pwt", required=True))


def _modal(rng: random.Random) -> Part:
    """'i want to hide under the bed' / 'je veux me cacher sous le lit'."""
    modal = rng.choice(MODAL_VERBS)
    if rng.random() < 0.6:
        verb = rng.choice(ACTIONS)
        subject = _subject(rng, verb.subjects)
        return _join(
            clause(subject, modal),
            _infinitive(verb, subject.person),
            _random_np(rng, verb.objects, "object"),
            _extra(rng, "t"),
        )
    verb = rng.choice(INTRANSITIVE)
    subject = _subject(rng, verb.subjects)
    return _join(clause(subject, modal), _infinitive(verb, subject.person), _extra(rng, "pt", required=True))


def _weather(rng: random.Random) -> Part:
    """'it is raining in the park today' / 'il pleut dans le parc aujourd'hui'."""
    place = None
    if rng.random() < 0.5:
        noun = rng.choice(_nouns("out", "dest"))
        place = (f"in the {noun.en}", f"dans {'la' if noun.fem else 'le'} {noun.fr}")
    return _join(rng.choice(WEATHER), place, _extra(rng, "t", required=place is None))


def _arithmetic(rng: random.Random) -> Part:
    """'seven plus eight equals fifteen' / 'sept plus huit égale quinze' (all numbers 0-99)."""
    en, fr = rng.choice(ARITHMETIC)
    a = rng.randint(0, 99)
    if en == "plus":
        b = rng.randint(0, 99 - a)
        result = a + b
    elif en == "minus":
        b = rng.randint(0, a)
        result = a - b
    else:
        b = rng.randint(0, 99 // a if a else 99)
        result = a * b
    return (
        f"{number_en(a)} {en} {number_en(b)} equals {number_en(result)}",
        f"{number_fr(a)} {fr} {number_fr(b)} égale {number_fr(result)}",
    )


def _imperative(rng: random.Random) -> Part:
    """'please open the door' / 'ouvrez la porte s'il vous plaît'."""
    verb = rng.choice(ACTIONS)
    en, fr = _join((f"please {verb.en}", verb.forms[3]), _random_np(rng, verb.objects, "object"), _extra(rng, "pt"))
    return en, f"{fr} s'il vous plaît"


def _arithmetic_count() -> int:
    """Number of distinct sums, differences and products with every number in 0-99."""
    times = sum(99 // a + 1 if a else 100 for a in range(100))
    return 5050 + 5050 + times  # a + b <= 99, b <= a, a * b <= 99


# Templates: weight, sampler, number of distinct sentences it gives.
TEMPLATES: tuple[tuple[int, Callable[[random.Random], Part], Callable[[], int]], ...] = (
    (16, _transitive, _transitive_count),
    (10, _intransitive, lambda: _intransitive_subjects() * _extra_count("pw", True) * _extra_count("t")),
    (9, _negation, lambda: _pairs(TRANSITIVE) * _extra_count("t") + _intransitive_subjects() * _extra_count("pt")),
    (8, _there_is, lambda: _np_count(EXISTING, "exist") * _extra_count("p", True) * _extra_count("t")),
    (3, _there_is_no, lambda: _np_count(EXISTING, "no") * _extra_count("p", True)),
    (2, _where, lambda: _np_count("person animal food drink thing text vehicle", "definite")),
    (6, _yes_no, lambda: _pairs(TRANSITIVE) * _extra_count("t") + _intransitive_subjects() * _extra_count("pt", True)),
    (2, _what, lambda: sum(_subject_count(verb.subjects) for verb in TRANSITIVE) * _extra_count("t")),
    (4, _how_many, lambda: _np_count(EXISTING, "howmany") * _extra_count("p", True)),
    (2, _who, lambda: sum(_np_count(verb.objects, "object") for verb in TRANSITIVE) * _extra_count("pt")),
    (5, _be_located, lambda: _subject_count(LOCATED) * _extra_count("p", True) * _extra_count("t")),
    (
        3,
        _be_adjective,
        lambda: (
            _extra_count("t")
            * (
                len(THIRD_PERSON_PRONOUNS) * len(_person_adjectives())
                + 2
                * sum(
                    _determiner_count(noun, "subject") * len(_adjectives(noun)) for noun in _nouns(DESCRIBED, "subject")
                )
            )
        ),
    ),
    (2, _age, lambda: _subject_count("person animal") * 99),
    (
        3,
        _comparison,
        lambda: sum(
            len(THIRD_PERSON_PRONOUNS)
            * ("person" in ADJECTIVE_BY_EN[base].tags)
            * _np_count("person", "subject", False)
            + sum(
                _determiner_count(noun, "subject") * _np_count(noun.category, "subject", False)
                for noun in _nouns(" ".join(sorted(ADJECTIVE_BY_EN[base].tags)), "subject")
            )
            for _, base in COMPARATIVES
        ),
    ),
    (4, _have, lambda: _subject_count("person") * _np_count(OWNED, "exist") * _extra_count("t")),
    (6, _go, lambda: _subject_count("person") * _np_count("to", "dest") * _extra_count("wt")),
    (3, _play, lambda: _subject_count("person") * len(GAMES) * _extra_count("pwt", True)),
    (
        8,
        _modal,
        lambda: (
            len(MODAL_VERBS)
            * (_pairs(ACTIONS) * _extra_count("t") + _intransitive_subjects() * _extra_count("pt", True))
        ),
    ),
    (1, _weather, lambda: len(WEATHER) * ((1 + len(_nouns("out", "dest"))) * _extra_count("t") - 1)),
    (1, _arithmetic, _arithmetic_count),
    (2, _imperative, lambda: sum(_np_count(verb.objects, "object") for verb in ACTIONS) * _extra_count("pt")),
)
SAMPLERS = tuple(sampler for _, sampler, _ in TEMPLATES)
CUMULATIVE_WEIGHTS = tuple(sum(weight for weight, _, _ in TEMPLATES[: i + 1]) for i in range(len(TEMPLATES)))


# --------------------------------------------------------------------------------------------------- public API
@cache
def capacity() -> int:
    """Number of distinct sentences the grammar can produce."""
    return sum(count() for _, _, count in TEMPLATES)


def generate_sentences(n: int, seed: int, exclude: set[str] | frozenset[str] = frozenset()) -> list[Sentence]:
    """n distinct sentences (distinct by .en, none whose .en is in exclude), deterministic for (n, seed, exclude)."""
    if n < 0:
        raise ValueError(f"cannot generate a negative number of sentences ({n})")
    if n > capacity() - len(exclude):
        raise ValueError(
            f"the grammar can produce only {capacity()} distinct sentences "
            f"({len(exclude)} of them excluded); {n} were requested"
        )
    rng = random.Random(seed)
    seen = set(exclude)
    sentences: list[Sentence] = []
    while len(sentences) < n:
        en, fr = rng.choices(SAMPLERS, cum_weights=CUMULATIVE_WEIGHTS)[0](rng)
        en = polish_en(en)
        if en not in seen:
            seen.add(en)
            sentences.append(Sentence(en, polish_fr(fr)))
    return sentences


def vocabulary() -> set[str]:
    """Every English word the grammar can produce."""
    phrases = [*TEMPLATE_WORDS, *POSSESSIVES, *(p.en for p in SUBJECT_PRONOUNS), *(a.en for a in LEXICON_ADJECTIVES)]
    phrases += [noun.en if "mass" in noun.tags else f"{noun.en} {noun.en_pl}" for noun in LEXICON_NOUNS]
    phrases += [text for verb in (*TRANSITIVE, *INTRANSITIVE, *MODAL_VERBS, HAVE, GO) for text in (verb.en, verb.en3)]
    phrases += [en for en, *_ in (*PREPOSITIONS, *TIME_PHRASES, *GAMES, *WEATHER, *COMPARATIVES, *ARITHMETIC)]
    phrases += [number_en(n) for n in range(100)]
    return {word for phrase in phrases for word in phrase.split()}
